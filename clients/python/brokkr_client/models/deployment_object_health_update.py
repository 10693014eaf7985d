from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.health_summary import HealthSummary


T = TypeVar("T", bound="DeploymentObjectHealthUpdate")


@_attrs_define
class DeploymentObjectHealthUpdate:
    """One entry of a health report.

    Attributes:
        checked_at (datetime.datetime):
        id (UUID): The deployment object.
        status (str):
        summary (HealthSummary | None | Unset):
    """

    checked_at: datetime.datetime
    id: UUID
    status: str
    summary: HealthSummary | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.health_summary import HealthSummary  # noqa: PLC0415

        checked_at = self.checked_at.isoformat()

        id = str(self.id)

        status = self.status

        summary: dict[str, Any] | None | Unset
        if isinstance(self.summary, Unset):
            summary = UNSET
        elif isinstance(self.summary, HealthSummary):
            summary = self.summary.to_dict()
        else:
            summary = self.summary

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "checked_at": checked_at,
                "id": id,
                "status": status,
            }
        )
        if summary is not UNSET:
            field_dict["summary"] = summary

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.health_summary import HealthSummary  # noqa: PLC0415

        d = dict(src_dict)
        checked_at = datetime.datetime.fromisoformat(d.pop("checked_at"))

        id = UUID(d.pop("id"))

        status = d.pop("status")

        def _parse_summary(data: object) -> HealthSummary | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                summary_type_0 = HealthSummary.from_dict(data)

                return summary_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(HealthSummary | None | Unset, data)

        summary = _parse_summary(d.pop("summary", UNSET))

        deployment_object_health_update = cls(
            checked_at=checked_at,
            id=id,
            status=status,
            summary=summary,
        )

        deployment_object_health_update.additional_properties = d
        return deployment_object_health_update

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
