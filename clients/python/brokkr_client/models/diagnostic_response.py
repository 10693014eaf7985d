from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.diagnostic_request import DiagnosticRequest
    from ..models.diagnostic_result import DiagnosticResult


T = TypeVar("T", bound="DiagnosticResponse")


@_attrs_define
class DiagnosticResponse:
    """Answer of `GET /diagnostics/{id}`: the request and, once submitted, its result.

    Attributes:
        request (DiagnosticRequest): An on-demand request for an agent to collect diagnostics about one deployment
            object.
        result (DiagnosticResult | None | Unset):
    """

    request: DiagnosticRequest
    result: DiagnosticResult | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.diagnostic_result import DiagnosticResult  # noqa: PLC0415

        request = self.request.to_dict()

        result: dict[str, Any] | None | Unset
        if isinstance(self.result, Unset):
            result = UNSET
        elif isinstance(self.result, DiagnosticResult):
            result = self.result.to_dict()
        else:
            result = self.result

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "request": request,
            }
        )
        if result is not UNSET:
            field_dict["result"] = result

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.diagnostic_request import DiagnosticRequest  # noqa: PLC0415
        from ..models.diagnostic_result import DiagnosticResult  # noqa: PLC0415

        d = dict(src_dict)
        request = DiagnosticRequest.from_dict(d.pop("request"))

        def _parse_result(data: object) -> DiagnosticResult | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                result_type_0 = DiagnosticResult.from_dict(data)

                return result_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DiagnosticResult | None | Unset, data)

        result = _parse_result(d.pop("result", UNSET))

        diagnostic_response = cls(
            request=request,
            result=result,
        )

        diagnostic_response.additional_properties = d
        return diagnostic_response

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
