from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TemplateErrorBody")


@_attrs_define
class TemplateErrorBody:
    """Error body of the template endpoints: `{"error"}` plus what is wrong in detail.

    Attributes:
        error (str):
        document_index (int | Unset): For rendered YAML that is not Kubernetes objects: the offending document
            (0-based).
        missing_annotations (list[list[str]] | Unset): Template annotations the stack lacks, as `[key, value]` pairs.
        missing_labels (list[str] | Unset): Template labels the stack lacks.
        validation_errors (list[str] | Unset): Parameters that break the schema: `"<JSON pointer>: <message>"` each.
    """

    error: str
    document_index: int | Unset = UNSET
    missing_annotations: list[list[str]] | Unset = UNSET
    missing_labels: list[str] | Unset = UNSET
    validation_errors: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        error = self.error

        document_index = self.document_index

        missing_annotations: list[list[str]] | Unset = UNSET
        if not isinstance(self.missing_annotations, Unset):
            missing_annotations = []
            for missing_annotations_item_data in self.missing_annotations:
                missing_annotations_item = missing_annotations_item_data

                missing_annotations.append(missing_annotations_item)

        missing_labels: list[str] | Unset = UNSET
        if not isinstance(self.missing_labels, Unset):
            missing_labels = self.missing_labels

        validation_errors: list[str] | Unset = UNSET
        if not isinstance(self.validation_errors, Unset):
            validation_errors = self.validation_errors

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "error": error,
            }
        )
        if document_index is not UNSET:
            field_dict["document_index"] = document_index
        if missing_annotations is not UNSET:
            field_dict["missing_annotations"] = missing_annotations
        if missing_labels is not UNSET:
            field_dict["missing_labels"] = missing_labels
        if validation_errors is not UNSET:
            field_dict["validation_errors"] = validation_errors

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        error = d.pop("error")

        document_index = d.pop("document_index", UNSET)

        _missing_annotations = d.pop("missing_annotations", UNSET)
        missing_annotations: list[list[str]] | Unset = UNSET
        if _missing_annotations is not UNSET:
            missing_annotations = []
            for missing_annotations_item_data in _missing_annotations:
                missing_annotations_item = cast(list[str], missing_annotations_item_data)

                missing_annotations.append(missing_annotations_item)

        missing_labels = cast(list[str], d.pop("missing_labels", UNSET))

        validation_errors = cast(list[str], d.pop("validation_errors", UNSET))

        template_error_body = cls(
            error=error,
            document_index=document_index,
            missing_annotations=missing_annotations,
            missing_labels=missing_labels,
            validation_errors=validation_errors,
        )

        template_error_body.additional_properties = d
        return template_error_body

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
