"""The admin JSON API for devices, as `vuoro provision` calls it
(provisioning/scheduler_api.py is the client):

    POST   /api/v1/admin/sites/{site}/devices           {id, role, desks?, layout?,
                                                        offline_numbers?} -> 201 device
    DELETE /api/v1/admin/sites/{site}/devices/{device}  -> 204
    GET    /api/v1/admin/devices                        -> {"devices": [{id, site, role,
           desks, online, version, printer, reader, last_seen}]}

`Authorization: Bearer <key>` with a `[web] api_keys` key of role `admin` (401 without a
key or with an unknown one, 403 with another role's). Errors: `{"error": {"code",
"message"}}` with codes `not_allowed`, `unknown_site`, `unknown_device`, `device_exists`,
`bad_request` (the config file's model says what is wrong), `conflict`, `bad_state`.

A change goes through `SiteAdmin.apply` like the admin pages': checked by the config
file's models, stored, and the new device's retained config published at once (a removed
device's cleared, its commands `not_allowed`).
"""

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from scheduler.domain.errors import DomainError
from scheduler.siteconfig import ConfigConflict, ConfigInvalid, site_doc
from scheduler.web.staff import StaffWeb

DEVICE_KEYS = ("id", "role", "desks", "layout", "offline_numbers")
RETRIES = 3  # a concurrent change elsewhere in the site: read it again and retry


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _role_of(api_keys: dict[str, str], request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    for key, role in api_keys.items():
        if hmac.compare_digest(key.encode(), token.encode()):
            return role
    return None


# The refusals every admin route documents: `{"error": {"code": ..., "message": ...}}`.
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No admin API key (`Authorization: Bearer <key>`)"},
    403: {"description": "The key's role may not change devices"},
    400: {"description": "Refused: the device does not pass the site's checks"},
    404: {"description": "Unknown site or device"},
    409: {"description": "The device exists already, or the site changed meanwhile"},
    422: {"description": "The request did not validate"},
}


def admin_api_router(web: StaffWeb, api_keys: dict[str, str]) -> APIRouter:
    r = APIRouter(prefix="/api/v1/admin", tags=["admin"])
    keys = dict(api_keys)

    def refuse(request: Request) -> JSONResponse | None:
        role = _role_of(keys, request)
        if role is None:
            return _error(401, "not_allowed", "give an admin API key: Authorization: Bearer <key>")
        if role != "admin":
            return _error(403, "not_allowed", "this API key's role may not change devices")
        return None

    def admin() -> Any:
        return web.host.admin

    def current(site: str) -> tuple[dict[str, Any], int] | None:
        try:
            sc = admin().site(site)
        except DomainError:
            return None
        return site_doc(sc), admin().version(site)

    def device_out(site: str, d: dict[str, Any]) -> dict[str, Any]:
        s = web.host.devices.summary(site, d["id"])
        seen = s.get("last_seen")
        return {
            "id": d["id"],
            "site": site,
            "role": d["role"],
            "desks": list(d.get("desks") or []),
            "layout": d.get("layout"),
            "offline_numbers": d.get("offline_numbers"),
            "online": bool(s.get("online")),
            "version": s.get("version"),
            "printer": s.get("printer"),
            "reader": s.get("reader"),
            "last_seen": seen.isoformat().replace("+00:00", "Z") if seen else None,
        }

    async def change(
        site: str, edit: Any, by: str
    ) -> tuple[dict[str, Any] | None, JSONResponse | None]:
        """Apply `edit(doc)` (which may answer an error itself), retrying on a conflict."""
        for _ in range(RETRIES):
            got = current(site)
            if got is None:
                return None, _error(404, "unknown_site", f"no site {site!r}")
            doc, version = got
            refused = edit(doc)
            if refused is not None:
                return None, refused
            try:
                await run_in_threadpool(admin().apply, doc, by, version)
            except ConfigConflict:
                continue
            except ConfigInvalid as exc:
                return None, _error(422, "bad_request", "; ".join(exc.problems))
            except DomainError as exc:
                return None, _error(409, exc.code, exc.message["en"])
            except TimeoutError:
                return None, _error(503, "busy", "the scheduler did not answer in time")
            return doc, None
        return None, _error(409, "conflict", "the site kept changing; try again")

    @r.post("/sites/{site}/devices", status_code=201, responses=ADMIN_ERRORS)
    async def add_device(site: str, request: Request) -> Response:
        if (no := refuse(request)) is not None:
            return no
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "bad_request", "the body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            return _error(400, "bad_request", "give a JSON object with at least id and role")
        extra = sorted(set(body) - set(DEVICE_KEYS))
        if extra:
            return _error(400, "bad_request", f"unknown fields: {', '.join(extra)}")
        device = {k: body[k] for k in DEVICE_KEYS if body.get(k) not in (None, "", [])}
        dev_id = device["id"]

        def edit(doc: dict[str, Any]) -> JSONResponse | None:
            for sc in admin().config.sites:
                if any(d.id == dev_id for d in sc.devices):
                    return _error(409, "device_exists", f"device {dev_id!r} exists at {sc.id!r}")
            doc.setdefault("devices", []).append(device)
            return None

        doc, err = await change(site, edit, "api")
        if err is not None:
            return err
        assert doc is not None
        made = next(d for d in site_doc(admin().site(site))["devices"] if d["id"] == dev_id)
        return JSONResponse(device_out(site, made), status_code=201)

    @r.delete("/sites/{site}/devices/{device}", status_code=204, responses=ADMIN_ERRORS)
    async def delete_device(site: str, device: str, request: Request) -> Response:
        if (no := refuse(request)) is not None:
            return no

        def edit(doc: dict[str, Any]) -> JSONResponse | None:
            devices = doc.get("devices") or []
            if not any(d["id"] == device for d in devices):
                return _error(404, "unknown_device", f"no device {device!r} at {site!r}")
            doc["devices"] = [d for d in devices if d["id"] != device]
            return None

        _doc, err = await change(site, edit, "api")
        if err is not None:
            return err
        return Response(status_code=204)

    @r.get("/devices", responses=ADMIN_ERRORS)
    async def list_devices(request: Request) -> Response:
        if (no := refuse(request)) is not None:
            return no
        out = []
        for sc in admin().config.sites:
            for d in site_doc(sc).get("devices", []):
                out.append(device_out(sc.id, d))
        return JSONResponse({"devices": out}, headers={"Cache-Control": "no-store"})

    return r
