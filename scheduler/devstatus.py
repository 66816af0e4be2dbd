"""The devices' live status, as they publish it (PROTOCOL.md "Device status"): the
scheduler follows every `vuoro/v1/{site}/status/{device}` (retained, with a last will) and
keeps the newest body of each, for the admin pages and `vuoro provision list/check`.

Written by paho's network thread, read by the web server's: each update replaces one
dict entry with a new dict (never changed afterwards), so readers need no lock.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from firmware_common import protocol as p

STATUS_FILTER = f"{p.PREFIX}/+/status/+"
MAX_DEVICES = 20_000


class DeviceStatusBoard:
    def __init__(self, clock: Any = p.now_utc) -> None:
        self.clock = clock
        self._seen: dict[tuple[str, str], dict[str, Any]] = {}

    def on_message(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) != 5 or parts[3] != "status":
            return
        site, device = parts[2], parts[4]
        if not p.SITE_RE.match(site) or not p.DEVICE_ID_RE.match(device):
            return
        if not payload:  # the retained status was cleared (device removed)
            self._seen.pop((site, device), None)
            return
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if len(self._seen) >= MAX_DEVICES and (site, device) not in self._seen:
            return
        self._seen[(site, device)] = {**body, "_seen_at": self.clock()}

    def get(self, site: str, device: str) -> dict[str, Any] | None:
        return self._seen.get((site, device))

    def summary(self, site: str, device: str) -> dict[str, Any]:
        """What the admin pages show of one device: online, version, printer, reader,
        last seen (None: never heard of)."""
        body = self.get(site, device) or {}
        seen: datetime | None = body.get("_seen_at")
        return {
            "online": bool(body.get("online")),
            "version": body.get("version"),
            "printer": body.get("printer"),
            "reader": body.get("reader"),
            "last_seen": seen,
        }
