from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.rollout_state import RolloutState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.agent_rollout_status import AgentRolloutStatus


T = TypeVar("T", bound="StackRolloutStatus")


@_attrs_define
class StackRolloutStatus:
    """Answer of `GET /stacks/{id}/rollout`: how far the stack's newest deployment object has got
    on every active agent that runs the stack.

        Attributes:
            agents (list[AgentRolloutStatus]): By agent name and cluster name.
            is_deletion_marker (bool):
            stack_id (UUID):
            state (RolloutState): Where a rollout stands: for one agent, or for every agent running the stack.
            deployment_object_id (None | Unset | UUID): The newest deployment object; null while the stack has none.
            sequence_id (int | None | Unset):
    """

    agents: list[AgentRolloutStatus]
    is_deletion_marker: bool
    stack_id: UUID
    state: RolloutState
    deployment_object_id: None | Unset | UUID = UNSET
    sequence_id: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agents = []
        for agents_item_data in self.agents:
            agents_item = agents_item_data.to_dict()
            agents.append(agents_item)

        is_deletion_marker = self.is_deletion_marker

        stack_id = str(self.stack_id)

        state = self.state.value

        deployment_object_id: None | str | Unset
        if isinstance(self.deployment_object_id, Unset):
            deployment_object_id = UNSET
        elif isinstance(self.deployment_object_id, UUID):
            deployment_object_id = str(self.deployment_object_id)
        else:
            deployment_object_id = self.deployment_object_id

        sequence_id: int | None | Unset
        if isinstance(self.sequence_id, Unset):
            sequence_id = UNSET
        else:
            sequence_id = self.sequence_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agents": agents,
                "is_deletion_marker": is_deletion_marker,
                "stack_id": stack_id,
                "state": state,
            }
        )
        if deployment_object_id is not UNSET:
            field_dict["deployment_object_id"] = deployment_object_id
        if sequence_id is not UNSET:
            field_dict["sequence_id"] = sequence_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.agent_rollout_status import AgentRolloutStatus  # noqa: PLC0415

        d = dict(src_dict)
        agents = []
        _agents = d.pop("agents")
        for agents_item_data in _agents:
            agents_item = AgentRolloutStatus.from_dict(agents_item_data)

            agents.append(agents_item)

        is_deletion_marker = d.pop("is_deletion_marker")

        stack_id = UUID(d.pop("stack_id"))

        state = RolloutState(d.pop("state"))

        def _parse_deployment_object_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                deployment_object_id_type_0 = UUID(data)

                return deployment_object_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        deployment_object_id = _parse_deployment_object_id(d.pop("deployment_object_id", UNSET))

        def _parse_sequence_id(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        sequence_id = _parse_sequence_id(d.pop("sequence_id", UNSET))

        stack_rollout_status = cls(
            agents=agents,
            is_deletion_marker=is_deletion_marker,
            stack_id=stack_id,
            state=state,
            deployment_object_id=deployment_object_id,
            sequence_id=sequence_id,
        )

        stack_rollout_status.additional_properties = d
        return stack_rollout_status

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
