from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.config_change import ConfigChange


T = TypeVar("T", bound="ConfigReloadResponse")


@_attrs_define
class ConfigReloadResponse:
    """Answer of `POST /admin/config/reload`.

    Attributes:
        changes (list[ConfigChange]): Dynamic settings that changed and are in effect now.
        message (str):
        reloaded_at (datetime.datetime):
        restart_required (list[ConfigChange]): Static settings that changed in the sources but keep their old value
            until a restart.
        success (bool):
    """

    changes: list[ConfigChange]
    message: str
    reloaded_at: datetime.datetime
    restart_required: list[ConfigChange]
    success: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        changes = []
        for changes_item_data in self.changes:
            changes_item = changes_item_data.to_dict()
            changes.append(changes_item)

        message = self.message

        reloaded_at = self.reloaded_at.isoformat()

        restart_required = []
        for restart_required_item_data in self.restart_required:
            restart_required_item = restart_required_item_data.to_dict()
            restart_required.append(restart_required_item)

        success = self.success

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "changes": changes,
                "message": message,
                "reloaded_at": reloaded_at,
                "restart_required": restart_required,
                "success": success,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.config_change import ConfigChange  # noqa: PLC0415

        d = dict(src_dict)
        changes = []
        _changes = d.pop("changes")
        for changes_item_data in _changes:
            changes_item = ConfigChange.from_dict(changes_item_data)

            changes.append(changes_item)

        message = d.pop("message")

        reloaded_at = datetime.datetime.fromisoformat(d.pop("reloaded_at"))

        restart_required = []
        _restart_required = d.pop("restart_required")
        for restart_required_item_data in _restart_required:
            restart_required_item = ConfigChange.from_dict(restart_required_item_data)

            restart_required.append(restart_required_item)

        success = d.pop("success")

        config_reload_response = cls(
            changes=changes,
            message=message,
            reloaded_at=reloaded_at,
            restart_required=restart_required,
            success=success,
        )

        config_reload_response.additional_properties = d
        return config_reload_response

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
