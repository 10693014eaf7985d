from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TemplateInstantiationRequest")


@_attrs_define
class TemplateInstantiationRequest:
    """Body of `POST /stacks/{id}/deployment-objects/from-template`.

    Attributes:
        template_id (UUID): Any version of the template; its latest live version is rendered.
        parameters (Any | Unset): The template's parameters (checked against its schema after defaults are applied).
            Default: {}.
    """

    template_id: UUID
    parameters: Any | Unset = {}
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        template_id = str(self.template_id)

        parameters = self.parameters

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "template_id": template_id,
            }
        )
        if parameters is not UNSET:
            field_dict["parameters"] = parameters

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        template_id = UUID(d.pop("template_id"))

        parameters = d.pop("parameters", UNSET)

        template_instantiation_request = cls(
            template_id=template_id,
            parameters=parameters,
        )

        template_instantiation_request.additional_properties = d
        return template_instantiation_request

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
