from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="WorkOrderRetryScheduled")


@_attrs_define
class WorkOrderRetryScheduled:
    """Answer `202` of `POST /work-orders/{id}/complete`: the failure will be retried.

    Attributes:
        retry_count (int): Retries used, this one included.
        status (str): Always `retry_scheduled`.
        next_retry_after (datetime.datetime | None | Unset): When the order becomes claimable again.
    """

    retry_count: int
    status: str
    next_retry_after: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        retry_count = self.retry_count

        status = self.status

        next_retry_after: None | str | Unset
        if isinstance(self.next_retry_after, Unset):
            next_retry_after = UNSET
        elif isinstance(self.next_retry_after, datetime.datetime):
            next_retry_after = self.next_retry_after.isoformat()
        else:
            next_retry_after = self.next_retry_after

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "retry_count": retry_count,
                "status": status,
            }
        )
        if next_retry_after is not UNSET:
            field_dict["next_retry_after"] = next_retry_after

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        retry_count = d.pop("retry_count")

        status = d.pop("status")

        def _parse_next_retry_after(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                next_retry_after_type_0 = datetime.datetime.fromisoformat(data)

                return next_retry_after_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        next_retry_after = _parse_next_retry_after(d.pop("next_retry_after", UNSET))

        work_order_retry_scheduled = cls(
            retry_count=retry_count,
            status=status,
            next_retry_after=next_retry_after,
        )

        work_order_retry_scheduled.additional_properties = d
        return work_order_retry_scheduled

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
