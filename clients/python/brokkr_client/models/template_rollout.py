from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.template_rollout_status import TemplateRolloutStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.template_rollout_stack import TemplateRolloutStack


T = TypeVar("T", bound="TemplateRollout")


@_attrs_define
class TemplateRollout:
    """A template rollout (`POST /templates/{id}/rollout`) and its per-stack results.

    Attributes:
        created_at (datetime.datetime):
        id (UUID):
        stacks (list[TemplateRolloutStack]):
        status (TemplateRolloutStatus): A template rollout: `running` while a stack is pending, then `completed`.
        template_id (UUID): The version rolled out.
        template_name (str):
        template_version (int):
        completed_at (datetime.datetime | None | Unset):
        generator_id (None | Unset | UUID): The template's owner; absent for a system template.
    """

    created_at: datetime.datetime
    id: UUID
    stacks: list[TemplateRolloutStack]
    status: TemplateRolloutStatus
    template_id: UUID
    template_name: str
    template_version: int
    completed_at: datetime.datetime | None | Unset = UNSET
    generator_id: None | Unset | UUID = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        id = str(self.id)

        stacks = []
        for stacks_item_data in self.stacks:
            stacks_item = stacks_item_data.to_dict()
            stacks.append(stacks_item)

        status = self.status.value

        template_id = str(self.template_id)

        template_name = self.template_name

        template_version = self.template_version

        completed_at: None | str | Unset
        if isinstance(self.completed_at, Unset):
            completed_at = UNSET
        elif isinstance(self.completed_at, datetime.datetime):
            completed_at = self.completed_at.isoformat()
        else:
            completed_at = self.completed_at

        generator_id: None | str | Unset
        if isinstance(self.generator_id, Unset):
            generator_id = UNSET
        elif isinstance(self.generator_id, UUID):
            generator_id = str(self.generator_id)
        else:
            generator_id = self.generator_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "stacks": stacks,
                "status": status,
                "template_id": template_id,
                "template_name": template_name,
                "template_version": template_version,
            }
        )
        if completed_at is not UNSET:
            field_dict["completed_at"] = completed_at
        if generator_id is not UNSET:
            field_dict["generator_id"] = generator_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.template_rollout_stack import TemplateRolloutStack  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        stacks = []
        _stacks = d.pop("stacks")
        for stacks_item_data in _stacks:
            stacks_item = TemplateRolloutStack.from_dict(stacks_item_data)

            stacks.append(stacks_item)

        status = TemplateRolloutStatus(d.pop("status"))

        template_id = UUID(d.pop("template_id"))

        template_name = d.pop("template_name")

        template_version = d.pop("template_version")

        def _parse_completed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                completed_at_type_0 = datetime.datetime.fromisoformat(data)

                return completed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        completed_at = _parse_completed_at(d.pop("completed_at", UNSET))

        def _parse_generator_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                generator_id_type_0 = UUID(data)

                return generator_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        generator_id = _parse_generator_id(d.pop("generator_id", UNSET))

        template_rollout = cls(
            created_at=created_at,
            id=id,
            stacks=stacks,
            status=status,
            template_id=template_id,
            template_name=template_name,
            template_version=template_version,
            completed_at=completed_at,
            generator_id=generator_id,
        )

        template_rollout.additional_properties = d
        return template_rollout

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
