"""How the fake Telegram server hands updates to the bot: getUpdates (long polling) and webhooks.

A second getUpdates terminates the one waiting (409 Conflict, as when two bot instances poll), and
getUpdates is refused while a webhook is set. The fake server never delivers to a webhook URL; tests
read :attr:`~fake_telegram.state.FakeBotState.webhook_url` and post updates themselves.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fake_telegram.errors import ApiError, bad_request
from fake_telegram.params import Params


class UpdateDelivery:
    """Mixed into :class:`~fake_telegram.methods.BotApi`: getUpdates, setWebhook, deleteWebhook, getWebhookInfo.

    Works on the update queue of :class:`~fake_telegram.state.FakeBotState`, under its lock (``BotApi.call``).
    """

    def _get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset = params.get_int("offset")
        limit = min(100, max(1, params.get_int("limit") or 100))
        timeout = max(0.0, params.get_float("timeout") or 0.0)
        allowed = params.get_json("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or None
        if offset is not None:
            if offset < 0:
                del self._updates[: max(0, len(self._updates) + offset)]
            else:
                self._updates = [update for update in self._updates if update["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._changed.notify_all()  # an older long poll is now terminated (409)
        deadline = time.monotonic() + timeout
        while True:
            if self._closed:
                return []
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            if self._updates:
                return list(self._updates[:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._changed.wait(remaining)

    def _set_webhook(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        if not url:
            self._webhook = None
            return True
        if not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get_str("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("bad webhook: Secret token contains unallowed characters")
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": url, "allowed_updates": params.get_json("allowed_updates"), "secret_token": secret}
        self._changed.notify_all()  # a waiting getUpdates keeps waiting; the next one gets 409
        return True

    def _delete_webhook(self, params: Params) -> bool:
        self._webhook = None
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook and self._webhook.get("allowed_updates"):
            info["allowed_updates"] = self._webhook["allowed_updates"]
        return info
