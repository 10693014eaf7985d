from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.webhook_filters import WebhookFilters


T = TypeVar("T", bound="WebhookResponse")


@_attrs_define
class WebhookResponse:
    """A webhook subscription as the API shows it: the URL, auth header and signing secret are
    never returned, only whether they are set.

        Attributes:
            created_at (datetime.datetime):
            enabled (bool):
            event_types (list[str]): Event types or patterns (`*`, `prefix.*`).
            has_auth_header (bool):
            has_secret (bool): True when deliveries are signed (`X-Brokkr-Signature-256`, `webhook-signature`).
            has_url (bool):
            id (UUID):
            max_retries (int):
            name (str):
            timeout_seconds (int):
            updated_at (datetime.datetime):
            created_by (None | str | Unset):
            disabled_reason (str | Unset): Why Brokkr disabled the subscription, if it did (e.g. deliveries failing for
                days).
            filters (None | Unset | WebhookFilters):
            secret (str | Unset): Only in the answer to a create with `generate_secret: true`: the generated signing
                secret (`whsec_...`), shown this once. Store it; it cannot be read again.
            target_labels (list[str] | None | Unset): When set, agents carrying all these labels deliver instead of the
                broker's workers.
    """

    created_at: datetime.datetime
    enabled: bool
    event_types: list[str]
    has_auth_header: bool
    has_secret: bool
    has_url: bool
    id: UUID
    max_retries: int
    name: str
    timeout_seconds: int
    updated_at: datetime.datetime
    created_by: None | str | Unset = UNSET
    disabled_reason: str | Unset = UNSET
    filters: None | Unset | WebhookFilters = UNSET
    secret: str | Unset = UNSET
    target_labels: list[str] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.webhook_filters import WebhookFilters  # noqa: PLC0415

        created_at = self.created_at.isoformat()

        enabled = self.enabled

        event_types = self.event_types

        has_auth_header = self.has_auth_header

        has_secret = self.has_secret

        has_url = self.has_url

        id = str(self.id)

        max_retries = self.max_retries

        name = self.name

        timeout_seconds = self.timeout_seconds

        updated_at = self.updated_at.isoformat()

        created_by: None | str | Unset
        if isinstance(self.created_by, Unset):
            created_by = UNSET
        else:
            created_by = self.created_by

        disabled_reason = self.disabled_reason

        filters: dict[str, Any] | None | Unset
        if isinstance(self.filters, Unset):
            filters = UNSET
        elif isinstance(self.filters, WebhookFilters):
            filters = self.filters.to_dict()
        else:
            filters = self.filters

        secret = self.secret

        target_labels: list[str] | None | Unset
        if isinstance(self.target_labels, Unset):
            target_labels = UNSET
        elif isinstance(self.target_labels, list):
            target_labels = self.target_labels

        else:
            target_labels = self.target_labels

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "enabled": enabled,
                "event_types": event_types,
                "has_auth_header": has_auth_header,
                "has_secret": has_secret,
                "has_url": has_url,
                "id": id,
                "max_retries": max_retries,
                "name": name,
                "timeout_seconds": timeout_seconds,
                "updated_at": updated_at,
            }
        )
        if created_by is not UNSET:
            field_dict["created_by"] = created_by
        if disabled_reason is not UNSET:
            field_dict["disabled_reason"] = disabled_reason
        if filters is not UNSET:
            field_dict["filters"] = filters
        if secret is not UNSET:
            field_dict["secret"] = secret
        if target_labels is not UNSET:
            field_dict["target_labels"] = target_labels

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.webhook_filters import WebhookFilters  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        enabled = d.pop("enabled")

        event_types = cast(list[str], d.pop("event_types"))

        has_auth_header = d.pop("has_auth_header")

        has_secret = d.pop("has_secret")

        has_url = d.pop("has_url")

        id = UUID(d.pop("id"))

        max_retries = d.pop("max_retries")

        name = d.pop("name")

        timeout_seconds = d.pop("timeout_seconds")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_created_by(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        created_by = _parse_created_by(d.pop("created_by", UNSET))

        disabled_reason = d.pop("disabled_reason", UNSET)

        def _parse_filters(data: object) -> None | Unset | WebhookFilters:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                filters_type_0 = WebhookFilters.from_dict(data)

                return filters_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | WebhookFilters, data)

        filters = _parse_filters(d.pop("filters", UNSET))

        secret = d.pop("secret", UNSET)

        def _parse_target_labels(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                target_labels_type_0 = cast(list[str], data)

                return target_labels_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        target_labels = _parse_target_labels(d.pop("target_labels", UNSET))

        webhook_response = cls(
            created_at=created_at,
            enabled=enabled,
            event_types=event_types,
            has_auth_header=has_auth_header,
            has_secret=has_secret,
            has_url=has_url,
            id=id,
            max_retries=max_retries,
            name=name,
            timeout_seconds=timeout_seconds,
            updated_at=updated_at,
            created_by=created_by,
            disabled_reason=disabled_reason,
            filters=filters,
            secret=secret,
            target_labels=target_labels,
        )

        webhook_response.additional_properties = d
        return webhook_response

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
