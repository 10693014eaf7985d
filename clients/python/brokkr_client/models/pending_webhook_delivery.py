from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.pending_webhook_delivery_headers import PendingWebhookDeliveryHeaders


T = TypeVar("T", bound="PendingWebhookDelivery")


@_attrs_define
class PendingWebhookDelivery:
    """A delivery claimed by an agent (`GET /agents/{id}/webhooks/pending`), with everything needed
    to send it exactly as the broker would.

        Attributes:
            attempts (int): Attempts made before this one.
            body (str): The exact body to POST (the signatures cover these bytes).
            event_type (str):
            headers (PendingWebhookDeliveryHeaders): Every header to send, signatures included.
            id (UUID):
            lease_expires_at (datetime.datetime): When the claim lapses and the delivery returns to pending.
            max_retries (int):
            payload (Any):
            subscription_id (UUID):
            timeout_seconds (int):
            url (str): Destination (decrypted).
            auth_header (None | str | Unset): `Authorization` value to send (decrypted), if any.
    """

    attempts: int
    body: str
    event_type: str
    headers: PendingWebhookDeliveryHeaders
    id: UUID
    lease_expires_at: datetime.datetime
    max_retries: int
    payload: Any
    subscription_id: UUID
    timeout_seconds: int
    url: str
    auth_header: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempts = self.attempts

        body = self.body

        event_type = self.event_type

        headers = self.headers.to_dict()

        id = str(self.id)

        lease_expires_at = self.lease_expires_at.isoformat()

        max_retries = self.max_retries

        payload = self.payload

        subscription_id = str(self.subscription_id)

        timeout_seconds = self.timeout_seconds

        url = self.url

        auth_header: None | str | Unset
        if isinstance(self.auth_header, Unset):
            auth_header = UNSET
        else:
            auth_header = self.auth_header

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempts": attempts,
                "body": body,
                "event_type": event_type,
                "headers": headers,
                "id": id,
                "lease_expires_at": lease_expires_at,
                "max_retries": max_retries,
                "payload": payload,
                "subscription_id": subscription_id,
                "timeout_seconds": timeout_seconds,
                "url": url,
            }
        )
        if auth_header is not UNSET:
            field_dict["auth_header"] = auth_header

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.pending_webhook_delivery_headers import PendingWebhookDeliveryHeaders  # noqa: PLC0415

        d = dict(src_dict)
        attempts = d.pop("attempts")

        body = d.pop("body")

        event_type = d.pop("event_type")

        headers = PendingWebhookDeliveryHeaders.from_dict(d.pop("headers"))

        id = UUID(d.pop("id"))

        lease_expires_at = datetime.datetime.fromisoformat(d.pop("lease_expires_at"))

        max_retries = d.pop("max_retries")

        payload = d.pop("payload")

        subscription_id = UUID(d.pop("subscription_id"))

        timeout_seconds = d.pop("timeout_seconds")

        url = d.pop("url")

        def _parse_auth_header(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        auth_header = _parse_auth_header(d.pop("auth_header", UNSET))

        pending_webhook_delivery = cls(
            attempts=attempts,
            body=body,
            event_type=event_type,
            headers=headers,
            id=id,
            lease_expires_at=lease_expires_at,
            max_retries=max_retries,
            payload=payload,
            subscription_id=subscription_id,
            timeout_seconds=timeout_seconds,
            url=url,
            auth_header=auth_header,
        )

        pending_webhook_delivery.additional_properties = d
        return pending_webhook_delivery

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
