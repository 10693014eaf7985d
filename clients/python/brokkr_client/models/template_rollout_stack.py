from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.template_rollout_stack_status import TemplateRolloutStackStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="TemplateRolloutStack")


@_attrs_define
class TemplateRolloutStack:
    """The outcome of a template rollout for one stack.

    Attributes:
        previous_deployment_object_id (UUID): The stack's latest deployment object when the rollout started.
        previous_template_version (int): The template version that object was rendered from.
        stack_id (UUID):
        status (TemplateRolloutStackStatus): The outcome of a template rollout for one stack.
        updated_at (datetime.datetime):
        validation_errors (list[str]): For `invalid_parameters`: each failing path.
        deployment_object_id (None | Unset | UUID): The deployment object the rollout created.
        error (None | str | Unset):
    """

    previous_deployment_object_id: UUID
    previous_template_version: int
    stack_id: UUID
    status: TemplateRolloutStackStatus
    updated_at: datetime.datetime
    validation_errors: list[str]
    deployment_object_id: None | Unset | UUID = UNSET
    error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        previous_deployment_object_id = str(self.previous_deployment_object_id)

        previous_template_version = self.previous_template_version

        stack_id = str(self.stack_id)

        status = self.status.value

        updated_at = self.updated_at.isoformat()

        validation_errors = self.validation_errors

        deployment_object_id: None | str | Unset
        if isinstance(self.deployment_object_id, Unset):
            deployment_object_id = UNSET
        elif isinstance(self.deployment_object_id, UUID):
            deployment_object_id = str(self.deployment_object_id)
        else:
            deployment_object_id = self.deployment_object_id

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "previous_deployment_object_id": previous_deployment_object_id,
                "previous_template_version": previous_template_version,
                "stack_id": stack_id,
                "status": status,
                "updated_at": updated_at,
                "validation_errors": validation_errors,
            }
        )
        if deployment_object_id is not UNSET:
            field_dict["deployment_object_id"] = deployment_object_id
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        previous_deployment_object_id = UUID(d.pop("previous_deployment_object_id"))

        previous_template_version = d.pop("previous_template_version")

        stack_id = UUID(d.pop("stack_id"))

        status = TemplateRolloutStackStatus(d.pop("status"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        validation_errors = cast(list[str], d.pop("validation_errors"))

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

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        template_rollout_stack = cls(
            previous_deployment_object_id=previous_deployment_object_id,
            previous_template_version=previous_template_version,
            stack_id=stack_id,
            status=status,
            updated_at=updated_at,
            validation_errors=validation_errors,
            deployment_object_id=deployment_object_id,
            error=error,
        )

        template_rollout_stack.additional_properties = d
        return template_rollout_stack

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
