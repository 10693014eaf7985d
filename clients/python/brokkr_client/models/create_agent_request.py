from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateAgentRequest")


@_attrs_define
class CreateAgentRequest:
    """Body of `POST /agents`.

    Attributes:
        cluster_name (str):
        name (str):
        generator_ids (list[UUID] | None | Unset): Generators to register the agent with at once (besides the system
            generator).
    """

    cluster_name: str
    name: str
    generator_ids: list[UUID] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cluster_name = self.cluster_name

        name = self.name

        generator_ids: list[str] | None | Unset
        if isinstance(self.generator_ids, Unset):
            generator_ids = UNSET
        elif isinstance(self.generator_ids, list):
            generator_ids = []
            for generator_ids_type_0_item_data in self.generator_ids:
                generator_ids_type_0_item = str(generator_ids_type_0_item_data)
                generator_ids.append(generator_ids_type_0_item)

        else:
            generator_ids = self.generator_ids

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cluster_name": cluster_name,
                "name": name,
            }
        )
        if generator_ids is not UNSET:
            field_dict["generator_ids"] = generator_ids

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cluster_name = d.pop("cluster_name")

        name = d.pop("name")

        def _parse_generator_ids(data: object) -> list[UUID] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                generator_ids_type_0 = []
                _generator_ids_type_0 = data
                for generator_ids_type_0_item_data in _generator_ids_type_0:
                    generator_ids_type_0_item = UUID(generator_ids_type_0_item_data)

                    generator_ids_type_0.append(generator_ids_type_0_item)

                return generator_ids_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[UUID] | None | Unset, data)

        generator_ids = _parse_generator_ids(d.pop("generator_ids", UNSET))

        create_agent_request = cls(
            cluster_name=cluster_name,
            name=name,
            generator_ids=generator_ids,
        )

        create_agent_request.additional_properties = d
        return create_agent_request

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
