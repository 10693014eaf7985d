from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.health_status import HealthStatus
from ..models.rollout_state import RolloutState
from ..types import UNSET, Unset

T = TypeVar("T", bound="AgentRolloutStatus")


@_attrs_define
class AgentRolloutStatus:
    """One agent running a stack, and what it reported about the stack's newest deployment object.

    Attributes:
        agent_id (UUID):
        agent_name (str):
        cluster_name (str):
        state (RolloutState): Where a rollout stands: for one agent, or for every agent running the stack.
        health (HealthStatus | None | Unset): The health the agent last reported for the object.
        message (None | str | Unset): The agent's message with its newest event about the object (why it failed).
        reported_at (datetime.datetime | None | Unset): When that event was stored.
    """

    agent_id: UUID
    agent_name: str
    cluster_name: str
    state: RolloutState
    health: HealthStatus | None | Unset = UNSET
    message: None | str | Unset = UNSET
    reported_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agent_id = str(self.agent_id)

        agent_name = self.agent_name

        cluster_name = self.cluster_name

        state = self.state.value

        health: None | str | Unset
        if isinstance(self.health, Unset):
            health = UNSET
        elif isinstance(self.health, HealthStatus):
            health = self.health.value
        else:
            health = self.health

        message: None | str | Unset
        if isinstance(self.message, Unset):
            message = UNSET
        else:
            message = self.message

        reported_at: None | str | Unset
        if isinstance(self.reported_at, Unset):
            reported_at = UNSET
        elif isinstance(self.reported_at, datetime.datetime):
            reported_at = self.reported_at.isoformat()
        else:
            reported_at = self.reported_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent_id": agent_id,
                "agent_name": agent_name,
                "cluster_name": cluster_name,
                "state": state,
            }
        )
        if health is not UNSET:
            field_dict["health"] = health
        if message is not UNSET:
            field_dict["message"] = message
        if reported_at is not UNSET:
            field_dict["reported_at"] = reported_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        agent_id = UUID(d.pop("agent_id"))

        agent_name = d.pop("agent_name")

        cluster_name = d.pop("cluster_name")

        state = RolloutState(d.pop("state"))

        def _parse_health(data: object) -> HealthStatus | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                health_type_0 = HealthStatus(data)

                return health_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(HealthStatus | None | Unset, data)

        health = _parse_health(d.pop("health", UNSET))

        def _parse_message(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        message = _parse_message(d.pop("message", UNSET))

        def _parse_reported_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reported_at_type_0 = datetime.datetime.fromisoformat(data)

                return reported_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        reported_at = _parse_reported_at(d.pop("reported_at", UNSET))

        agent_rollout_status = cls(
            agent_id=agent_id,
            agent_name=agent_name,
            cluster_name=cluster_name,
            state=state,
            health=health,
            message=message,
            reported_at=reported_at,
        )

        agent_rollout_status.additional_properties = d
        return agent_rollout_status

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
