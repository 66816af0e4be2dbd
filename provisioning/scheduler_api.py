"""The scheduler's admin HTTP API, as `vuoro provision` calls it.

    POST   {web}/api/v1/admin/sites/{site}/devices            -> 201 device JSON
    DELETE {web}/api/v1/admin/sites/{site}/devices/{device}   -> 204
    GET    {web}/api/v1/admin/devices                         -> {"devices": [...]}

with `Authorization: Bearer <key>` (a `[web] api_keys` entry with role `admin`). Errors
come as `{"error": {"code": "...", "message": "..."}}`. The scheduler publishes a new
device's retained config at once and clears a deleted one's: it learns about devices
without a restart.
"""

from __future__ import annotations

from typing import Any

import httpx


class SchedulerApiError(Exception):
    """The scheduler refused a request or could not be reached; `code` as it answered."""

    def __init__(self, message: str, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class SchedulerApi:
    def __init__(self, web: str, key: str, *, timeout: float = 10.0) -> None:
        self.web = web.rstrip("/")
        self._client = httpx.Client(
            base_url=self.web,
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SchedulerApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self._client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise SchedulerApiError(f"cannot reach the scheduler at {self.web}: {exc}") from None
        if r.status_code >= 400:
            code, message = "", r.text[:300]
            try:
                err = r.json().get("error", {})
                code = str(err.get("code", ""))
                message = str(err.get("message", message))
            except (ValueError, AttributeError):
                pass
            if r.status_code in (401, 403) and not code:
                code = "unauthorized"
            raise SchedulerApiError(
                f"scheduler: {method} {path}: {r.status_code} {code}: {message}".replace(
                    ":  :", ":"
                ),
                code=code,
                status=r.status_code,
            )
        return r

    def add_device(
        self,
        site: str,
        device: str,
        role: str,
        *,
        desks: list[str] | None = None,
        layout: str | None = None,
        offline_numbers: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"id": device, "role": role}
        if desks:
            body["desks"] = desks
        if layout:
            body["layout"] = layout
        if offline_numbers:
            body["offline_numbers"] = offline_numbers
        r = self._call("POST", f"/api/v1/admin/sites/{site}/devices", json=body)
        return dict(r.json())

    def delete_device(self, site: str, device: str) -> None:
        self._call("DELETE", f"/api/v1/admin/sites/{site}/devices/{device}")

    def devices(self) -> list[dict[str, Any]]:
        r = self._call("GET", "/api/v1/admin/devices")
        return list(r.json().get("devices", []))
