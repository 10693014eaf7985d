from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="AgentRegistration")


@_attrs_define
class AgentRegistration:
    """An agent's registration with a generator: its consent to run that generator's stacks.

    Attributes:
        agent_id (UUID):
        created_at (datetime.datetime):
        generator_id (UUID):
        generator_name (str):
    """

    agent_id: UUID
    created_at: datetime.datetime
    generator_id: UUID
    generator_name: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agent_id = str(self.agent_id)

        created_at = self.created_at.isoformat()

        generator_id = str(self.generator_id)

        generator_name = self.generator_name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent_id": agent_id,
                "created_at": created_at,
                "generator_id": generator_id,
                "generator_name": generator_name,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        agent_id = UUID(d.pop("agent_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        generator_id = UUID(d.pop("generator_id"))

        generator_name = d.pop("generator_name")

        agent_registration = cls(
            agent_id=agent_id,
            created_at=created_at,
            generator_id=generator_id,
            generator_name=generator_name,
        )

        agent_registration.additional_properties = d
        return agent_registration

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
