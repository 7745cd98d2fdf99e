"""The parameters of one Bot API call to the fake Telegram server, decoded as the real Bot API does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fake_telegram.errors import bad_request
from fake_telegram.files import UploadedFile


class Params:
    """The parameters of one Bot API call, decoded the way the real Bot API decodes them.

    ``values`` holds strings (form fields and query parameters; python-telegram-bot JSON-encodes every
    non-string value into its field) or native JSON values (application/json bodies). The typed getters
    accept both, so a method never cares how the request was encoded. ``files`` holds the multipart file
    parts by part name (``photo`` for a direct upload, ``attached<hex>`` for ``attach://`` references).
    """

    def __init__(self, values: Mapping[str, Any] | None = None, files: Mapping[str, UploadedFile] | None = None):
        self.values: dict[str, Any] = dict(values or {})
        self.files: dict[str, UploadedFile] = dict(files or {})

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) is not None

    def raw(self, name: str) -> Any:
        """The value as received (None when absent)."""
        return self.values.get(name)

    def get_str(self, name: str, *, required: bool = False) -> str | None:
        """A string parameter; numbers given natively in JSON are converted."""
        value = self.values.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise bad_request(f"invalid {name} specified")

    def get_int(self, name: str, *, required: bool = False) -> int | None:
        """An integer parameter (``"42"``, ``42`` and ``42.0`` all give 42)."""
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None
        if not number.is_integer():
            raise bad_request(f"invalid {name} specified")
        return int(number)

    def get_float(self, name: str) -> float | None:
        """A number parameter (timeouts)."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        """A boolean parameter (``true``/``false``/``1``/``0`` or a JSON boolean)."""
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0", ""):
            return False
        raise bad_request(f"invalid {name} specified")

    def get_json(self, name: str) -> Any:
        """A JSON-serialised parameter (reply_markup, entities, media, ...); strings are decoded."""
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def get_chat_id(self, name: str = "chat_id") -> int | str:
        """A chat id: an integer, or an ``@username`` string."""
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            return value
        return self.get_int(name, required=True) or 0  # required: never None; 0 is "chat not found"


def scope_key(scope: Any) -> str:
    """The key commands are stored under for a BotCommandScope (None: the default scope)."""
    if not scope:
        return '{"type": "default"}'
    return json.dumps(scope, sort_keys=True)
