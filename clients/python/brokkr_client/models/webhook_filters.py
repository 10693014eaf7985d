from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.webhook_filters_labels import WebhookFiltersLabels


T = TypeVar("T", bound="WebhookFilters")


@_attrs_define
class WebhookFilters:
    """Narrows a webhook subscription to events about one agent, one stack, or carrying labels.
    Unknown keys are refused, so a misspelt filter cannot silently match everything.

        Attributes:
            agent_id (UUID | Unset): Only events whose data names this agent.
            labels (WebhookFiltersLabels | Unset): Only events whose data carries all of these labels (key → value).
            stack_id (UUID | Unset): Only events whose data names this stack.
    """

    agent_id: UUID | Unset = UNSET
    labels: WebhookFiltersLabels | Unset = UNSET
    stack_id: UUID | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        agent_id: str | Unset = UNSET
        if not isinstance(self.agent_id, Unset):
            agent_id = str(self.agent_id)

        labels: dict[str, Any] | Unset = UNSET
        if not isinstance(self.labels, Unset):
            labels = self.labels.to_dict()

        stack_id: str | Unset = UNSET
        if not isinstance(self.stack_id, Unset):
            stack_id = str(self.stack_id)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if agent_id is not UNSET:
            field_dict["agent_id"] = agent_id
        if labels is not UNSET:
            field_dict["labels"] = labels
        if stack_id is not UNSET:
            field_dict["stack_id"] = stack_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.webhook_filters_labels import WebhookFiltersLabels  # noqa: PLC0415

        d = dict(src_dict)
        _agent_id = d.pop("agent_id", UNSET)
        agent_id: UUID | Unset
        if isinstance(_agent_id, Unset):
            agent_id = UNSET
        else:
            agent_id = UUID(_agent_id)

        _labels = d.pop("labels", UNSET)
        labels: WebhookFiltersLabels | Unset
        if isinstance(_labels, Unset):
            labels = UNSET
        else:
            labels = WebhookFiltersLabels.from_dict(_labels)

        _stack_id = d.pop("stack_id", UNSET)
        stack_id: UUID | Unset
        if isinstance(_stack_id, Unset):
            stack_id = UNSET
        else:
            stack_id = UUID(_stack_id)

        webhook_filters = cls(
            agent_id=agent_id,
            labels=labels,
            stack_id=stack_id,
        )

        webhook_filters.additional_properties = d
        return webhook_filters

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
