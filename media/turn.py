"""Time-limited TURN credentials for the pages (coturn's REST API scheme).

coturn with ``use-auth-secret`` and ``static-auth-secret=<turn_secret>`` accepts
a username ``<expiry unix time>:<anything>`` whose password is
``base64(HMAC-SHA1(secret, username))``, until the expiry (coturn's own check of
the timestamp; draft-uberti-behave-turn-rest). The server never stores them: each
page gets fresh ones with its media session (``open_session``), named for its
account so coturn's log says whose relay it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from exams.shared.ports import Clock


def rest_password(secret: str, username: str) -> str:
    """coturn's password for ``username``: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TurnCredentials:
    def __init__(self, urls: tuple[str, ...], secret: str, ttl_s: int, clock: Clock) -> None:
        self._stun = [u for u in urls if u.startswith("stun:")]
        self._turn = [u for u in urls if u.startswith(("turn:", "turns:"))]
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock

    def ice_servers(self, account_id: str) -> list[dict[str, Any]]:
        """RTCIceServer dictionaries for a page of ``account_id`` ([] without TURN/STUN)."""
        servers: list[dict[str, Any]] = []
        if self._stun:
            servers.append({"urls": list(self._stun)})
        if self._turn:
            username = f"{int(self._clock()) + self._ttl_s}:{account_id}"
            servers.append(
                {
                    "urls": list(self._turn),
                    "username": username,
                    "credential": rest_password(self._secret, username),
                }
            )
        return servers
