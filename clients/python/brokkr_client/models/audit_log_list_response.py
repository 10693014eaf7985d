from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.audit_log import AuditLog


T = TypeVar("T", bound="AuditLogListResponse")


@_attrs_define
class AuditLogListResponse:
    """A page of `GET /admin/audit-logs`.

    Attributes:
        count (int): Number of entries in this page.
        limit (int):
        logs (list[AuditLog]): Matching entries, newest first.
        offset (int):
        total (int): Number of entries matching the filters.
    """

    count: int
    limit: int
    logs: list[AuditLog]
    offset: int
    total: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        count = self.count

        limit = self.limit

        logs = []
        for logs_item_data in self.logs:
            logs_item = logs_item_data.to_dict()
            logs.append(logs_item)

        offset = self.offset

        total = self.total

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "count": count,
                "limit": limit,
                "logs": logs,
                "offset": offset,
                "total": total,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_log import AuditLog  # noqa: PLC0415

        d = dict(src_dict)
        count = d.pop("count")

        limit = d.pop("limit")

        logs = []
        _logs = d.pop("logs")
        for logs_item_data in _logs:
            logs_item = AuditLog.from_dict(logs_item_data)

            logs.append(logs_item)

        offset = d.pop("offset")

        total = d.pop("total")

        audit_log_list_response = cls(
            count=count,
            limit=limit,
            logs=logs,
            offset=offset,
            total=total,
        )

        audit_log_list_response.additional_properties = d
        return audit_log_list_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
