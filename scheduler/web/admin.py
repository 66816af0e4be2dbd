"""The admin pages (issue 6 item 4): sites and everything in them, devices with their
live status, users.

Every change to a site goes the one way the config file's rules are kept: the page builds
the site's new document (`site_doc` of the running site with the edited part replaced) and
hands it to `SiteAdmin.apply` (scheduler/siteconfig.py) with the version the form was
rendered with. The config file's own models check it; the scheduler refuses a change that
would strand a customer, stores it and republishes every device's retained config, so
kiosks, displays and desk units follow at once. A refusal is shown next to the form and
nothing is saved. No rule is written here a second time: the pages only translate form
fields to the config file's keys.

Pages (all need the `admin` role; `/admin/reports` is scheduler/web/reports.py):

    /admin/                                   sites, devices online/offline, paper warnings
    /admin/sites/_new                         a new site
    /admin/sites/{site}                       the site's sections
    /admin/sites/{site}/{general,notice,hours,booking}           one form each
    /admin/sites/{site}/{queues,services,desks,devices,advisors,resources}
        list; /_new and /{id}: the edit form; POST /{id}/remove
    /admin/sites/{site}/device-status         Server-Sent Events: a device's status cell
                                              whenever its status changes
    /admin/users, /admin/users/{name}         staff accounts

Lists inside a form (seasons, closures, pre-questions) are rows with one empty row to add;
clearing a row's key fields removes it. Weekly hours are text, one line per group of days
("mon-fri 8:00-16:00"), the config file's `hours` table written out.
"""

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

import scheduler.web.admin_strings  # noqa: F401  (registers the adm_ strings)
from scheduler.domain.errors import DomainError
from scheduler.siteconfig import ConfigConflict, ConfigInvalid, site_doc
from scheduler.web.auth import MIN_PASSWORD, ROLES, User, UserError
from scheduler.web.i18n import LANGS
from scheduler.web.staff import StaffPage, StaffWeb, secure, st

STATUS_CHECK_S = 1.0  # how often the status stream looks at the board (in memory)
KEEPALIVE_S = 20.0
WARN_PRINTER = ("paper_low", "paper_out", "error")
LIST_KEYS = {"queues", "desks", "needs", "services", "sites", "languages"}


class FormError(Exception):
    """A form field the pages cannot turn into the config file's value (own message)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# ---------------------------------------------------------------------------- form helpers


def form_vals(form: Any) -> dict[str, Any]:
    """A submitted form as the templates' values (lists for the checkbox groups)."""
    out: dict[str, Any] = {}
    for k in form:
        out[k] = list(form.getlist(k)) if k in LIST_KEYS else str(form.get(k) or "")
    for k in LIST_KEYS:
        out.setdefault(k, [])
    return out


def text(form: Any, key: str) -> str:
    return str(form.get(key) or "").strip()


def opt(form: Any, key: str) -> str | None:
    return text(form, key) or None


def checked(form: Any, key: str) -> bool:
    return bool(form.get(key))


def names_from(form: Any, prefix: str, *, required: bool) -> dict[str, str] | None:
    got = {lang: text(form, f"{prefix}_{lang}") for lang in LANGS}
    if not any(got.values()):
        if required:
            raise FormError("adm_names_needed")
        return None
    if required and not all(got.values()):
        raise FormError("adm_names_needed")
    first = next(v for v in got.values() if v)
    return {lang: v or first for lang, v in got.items()}


def names_vals(prefix: str, names: dict[str, str] | None) -> dict[str, str]:
    return {f"{prefix}_{lang}": (names or {}).get(lang, "") for lang in LANGS}


def hours_from(raw: str) -> dict[str, Any] | None:
    """'mon-fri 8:00-16:00' lines -> {"mon-fri": "8:00-16:00"}; empty -> None."""
    out: dict[str, Any] = {}
    for n, line in enumerate(raw.replace(";", "\n").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        days, _, times = line.partition(" ")
        days = days.rstrip(":").strip().lower()
        items = [t.strip() for t in times.split(",") if t.strip()]
        if not days or not items:
            raise FormError("adm_hours_line", n=n, text=line)
        out[days] = items[0] if len(items) == 1 else items
    return out or None


def hours_text(hours: dict[str, Any] | None) -> str:
    if not hours:
        return ""
    return "\n".join(
        f"{days} {v if isinstance(v, str) else ', '.join(v)}" for days, v in hours.items()
    )


def intervals_from(raw: str) -> list[str] | str | None:
    items = [t.strip() for t in raw.split(",") if t.strip()]
    if not items:
        return None
    return items[0] if len(items) == 1 else items


def split_list(raw: str) -> list[str]:
    return [x.strip() for x in raw.replace("\n", ",").split(",") if x.strip()]


def seasons_vals(seasons: list[dict[str, Any]]) -> dict[str, Any]:
    v: dict[str, Any] = {"seasons_n": str(len(seasons) + 1)}
    for i, s in enumerate(seasons):
        v[f"season_name_{i}"] = s.get("name", "")
        v[f"season_from_{i}"] = str(s.get("from", ""))
        v[f"season_to_{i}"] = str(s.get("to", ""))
        v[f"season_hours_{i}"] = hours_text(s.get("hours"))
    return v


def seasons_from(form: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(_count(form, "seasons_n")):
        name, a, b = (text(form, f"season_{k}_{i}") for k in ("name", "from", "to"))
        if not (name or a or b):
            continue
        out.append(
            {
                "name": name,
                "from": a,
                "to": b,
                "hours": hours_from(text(form, f"season_hours_{i}")) or {},
            }
        )
    return out


def closures_vals(closures: list[dict[str, Any]]) -> dict[str, Any]:
    v: dict[str, Any] = {"closures_n": str(len(closures) + 1)}
    for i, c in enumerate(closures):
        v[f"closure_from_{i}"] = str(c.get("date") or c.get("from") or "")
        v[f"closure_to_{i}"] = str(c.get("to") or "") if "date" not in c else ""
        h = c.get("hours")
        v[f"closure_hours_{i}"] = "" if h is None else (h if isinstance(h, str) else ", ".join(h))
        v.update(names_vals(f"closure_reason_{i}", c.get("reason")))
    return v


def closures_from(form: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(_count(form, "closures_n")):
        a, b = text(form, f"closure_from_{i}"), text(form, f"closure_to_{i}")
        if not (a or b):
            continue
        c: dict[str, Any] = {"date": a} if not b or b == a else {"from": a, "to": b}
        hours = intervals_from(text(form, f"closure_hours_{i}"))
        if hours is not None:
            c["hours"] = hours
        reason = names_from(form, f"closure_reason_{i}", required=False)
        if reason:
            c["reason"] = reason
        out.append(c)
    return out


def preq_vals(questions: list[dict[str, Any]]) -> dict[str, Any]:
    v: dict[str, Any] = {"preq_n": str(len(questions) + 1)}
    for i, q in enumerate(questions):
        v[f"preq_id_{i}"] = q.get("id", "")
        v.update(names_vals(f"preq_text_{i}", q.get("text")))
        v[f"preq_required_{i}"] = "1" if q.get("required") else ""
        v[f"preq_choices_{i}"] = ", ".join(q.get("choices") or [])
    return v


def preq_from(form: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(_count(form, "preq_n")):
        qid = text(form, f"preq_id_{i}")
        if not qid:
            continue
        out.append(
            {
                "id": qid,
                "text": names_from(form, f"preq_text_{i}", required=False)
                or {"fi": "", "sv": "", "en": ""},
                "required": checked(form, f"preq_required_{i}"),
                "choices": split_list(text(form, f"preq_choices_{i}")),
            }
        )
    return out


def _count(form: Any, key: str) -> int:
    try:
        return max(0, min(200, int(str(form.get(key) or "0"))))
    except ValueError:
        return 0


def put(d: dict[str, Any], key: str, value: Any) -> None:
    """Set `key`, or drop it when `value` is None (the config file's default)."""
    if value is None:
        d.pop(key, None)
    else:
        d[key] = value


# ---------------------------------------------------------------------------- the lists


@dataclass(frozen=True)
class Kind:
    """A list inside a site's document (queues, services, ...), edited item by item."""

    name: str  # URL segment and section key
    path: tuple[str, ...]  # where in the site's document
    to_vals: Callable[[dict[str, Any]], dict[str, Any]]
    build: Callable[[Any, dict[str, Any], dict[str, Any]], dict[str, Any]]  # form, old, doc

    def items(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        node: Any = doc
        for k in self.path:
            node = (node or {}).get(k)
        return list(node or [])

    def set_items(self, doc: dict[str, Any], items: list[dict[str, Any]]) -> None:
        node = doc
        for k in self.path[:-1]:
            if node.get(k) is None:
                node[k] = {}
            node = node[k]
        node[self.path[-1]] = items


def queue_vals(q: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": q.get("id", ""),
        "prefix": q.get("prefix", ""),
        **names_vals("name", q.get("name")),
        "weight": _num_text(q.get("weight", 1.0)),
        "sl_target_min": _num_text(q.get("sl_target_min", 15)),
        "max_waiting": _num_text(q.get("max_waiting")),
        "mean_service_min": _num_text(q.get("mean_service_min", 8)),
    }


def queue_build(form: Any, old: dict[str, Any], _doc: dict[str, Any]) -> dict[str, Any]:
    q = dict(old)
    q["prefix"] = text(form, "prefix").upper()
    q["name"] = names_from(form, "name", required=True)
    for key in ("weight", "sl_target_min", "mean_service_min", "max_waiting"):
        put(q, key, opt(form, key))
    return q


def service_vals(s: dict[str, Any]) -> dict[str, Any]:
    b = s.get("booking") or {}
    return {
        "id": s.get("id", ""),
        **names_vals("name", s.get("name")),
        "provider": s.get("provider", ""),
        "queue": s.get("queue", ""),
        "walk_in": "1" if s.get("walk_in", True) else "",
        "appointments": "1" if s.get("appointments", False) else "",
        "hours": hours_text(s.get("hours")),
        "walk_in_hours": hours_text(s.get("walk_in_hours")),
        "appointment_hours": hours_text(s.get("appointment_hours")),
        **names_vals("instructions", s.get("instructions")),
        "duration_min": _num_text(b.get("duration_min", 30)),
        "needs": list(b.get("needs") or []),
        "remote": "1" if b.get("remote") else "",
        **preq_vals(b.get("pre_questions") or []),
        **seasons_vals(s.get("seasons") or []),
        **closures_vals(s.get("closures") or []),
        "services": [],
        "queues": [],
    }


def service_build(form: Any, old: dict[str, Any], _doc: dict[str, Any]) -> dict[str, Any]:
    s = dict(old)
    s["name"] = names_from(form, "name", required=True)
    s["provider"] = text(form, "provider")
    s["queue"] = text(form, "queue")
    s["walk_in"] = checked(form, "walk_in")
    s["appointments"] = checked(form, "appointments")
    for key in ("hours", "walk_in_hours", "appointment_hours"):
        put(s, key, hours_from(text(form, key)))
    put(s, "instructions", names_from(form, "instructions", required=False))
    s["seasons"] = seasons_from(form)
    s["closures"] = closures_from(form)
    booking = {
        **(old.get("booking") or {}),
        "needs": list(form.getlist("needs")),
        "remote": checked(form, "remote"),
        "pre_questions": preq_from(form),
    }
    put(booking, "duration_min", opt(form, "duration_min"))
    wanted = (
        s["appointments"]
        or old.get("booking") is not None
        or booking["needs"]
        or booking["pre_questions"]
        or booking["remote"]
    )
    put(s, "booking", booking if wanted else None)
    return s


def desk_vals(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": d.get("id", ""),
        "name": d.get("name") or "",
        "queues": list(d.get("queues") or []),
    }


def desk_build(form: Any, old: dict[str, Any], _doc: dict[str, Any]) -> dict[str, Any]:
    d = dict(old)
    put(d, "name", opt(form, "name"))
    d["queues"] = list(form.getlist("queues"))
    return d


def device_vals(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": d.get("id", ""),
        "role": d.get("role", "kiosk"),
        "desks": list(d.get("desks") or []),
        "layout": d.get("layout", "landscape"),
        "offline_numbers": d.get("offline_numbers") or "",
    }


def device_build(form: Any, old: dict[str, Any], _doc: dict[str, Any]) -> dict[str, Any]:
    d = dict(old)
    d["role"] = text(form, "role")
    d["desks"] = list(form.getlist("desks")) if d["role"] == "desk" else []
    d["layout"] = text(form, "layout") or "landscape"
    put(d, "offline_numbers", opt(form, "offline_numbers") if d["role"] == "kiosk" else None)
    return d


def advisor_vals(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a.get("id", ""),
        "name": a.get("name", ""),
        "services": list(a.get("services") or []),
        "desk": a.get("desk") or "",
        "calendar": a.get("calendar") or "",
        "shifts": hours_text(a.get("shifts")),
        "valid_from": a.get("valid_from") or "",
        "valid_to": a.get("valid_to") or "",
        "off_days": ", ".join(a.get("off_days") or []),
    }


def advisor_build(form: Any, old: dict[str, Any], _doc: dict[str, Any]) -> dict[str, Any]:
    a = dict(old)
    a["name"] = text(form, "name")
    a["services"] = list(form.getlist("services"))
    for key in ("desk", "calendar", "valid_from", "valid_to"):
        put(a, key, opt(form, key))
    a["shifts"] = hours_from(text(form, "shifts")) or {}
    a["off_days"] = split_list(text(form, "off_days"))
    return a


def resource_vals(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r.get("id", ""),
        "kind": r.get("kind", "room"),
        "name": r.get("name", ""),
        "shifts": hours_text(r.get("shifts")),
        "calendar": r.get("calendar") or "",
        "languages_text": ", ".join(r.get("languages") or []),
    }


def resource_build(form: Any, old: dict[str, Any], _doc: dict[str, Any]) -> dict[str, Any]:
    r = dict(old)
    r["kind"] = text(form, "kind")
    r["name"] = text(form, "name")
    put(r, "shifts", hours_from(text(form, "shifts")))
    put(r, "calendar", opt(form, "calendar"))
    r["languages"] = split_list(text(form, "languages_text"))
    return r


KINDS = {
    k.name: k
    for k in (
        Kind("queues", ("queues",), queue_vals, queue_build),
        Kind("services", ("services",), service_vals, service_build),
        Kind("desks", ("desks",), desk_vals, desk_build),
        Kind("devices", ("devices",), device_vals, device_build),
        Kind("advisors", ("booking", "advisors"), advisor_vals, advisor_build),
        Kind("resources", ("booking", "resources"), resource_vals, resource_build),
    )
}
SECTIONS = (
    "general",
    "notice",
    "hours",
    "queues",
    "services",
    "desks",
    "devices",
    "booking",
    "advisors",
    "resources",
)
RULE_KEYS = (
    "slot_min",
    "horizon_days",
    "min_notice_min",
    "cancel_limit_h",
    "max_per_customer",
    "hold_min",
    "checkin_before_min",
    "checkin_grace_min",
    "retention_days",
    "reminder_h",
)


def _num_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ---------------------------------------------------------------------------- status


def status_view(summary: dict[str, Any], tz: str) -> dict[str, Any]:
    """A device's status as the status cell shows it."""
    seen = summary.get("last_seen")
    when = ""
    if seen is not None:
        try:
            when = seen.astimezone(ZoneInfo(tz)).strftime("%d.%m.%Y %H:%M:%S")
        except Exception:
            when = seen.isoformat()
    return {
        "online": bool(summary.get("online")),
        "seen": seen is not None,
        "version": summary.get("version") or "",
        "printer": summary.get("printer") or "",
        "reader": summary.get("reader") or "",
        "last_seen": when,
        "warn": summary.get("printer") in WARN_PRINTER,
    }


# ---------------------------------------------------------------------------- router


def router(web: StaffWeb) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    guard = web.guard("admin")
    web.env.globals["adm_status_label"] = status_label
    Admin = Annotated[User, Depends(guard)]

    def admin_of() -> Any:
        return web.host.admin

    def site_ids() -> list[str]:
        return [s.id for s in admin_of().config.sites]

    def doc_of(site: str) -> dict[str, Any] | None:
        try:
            return copy.deepcopy(site_doc(admin_of().site(site)))
        except DomainError:
            return None

    def summary(site: str, device: str) -> dict[str, Any]:
        return web.host.devices.summary(site, device)

    def go(pg: StaffPage, path: str, anchor: str = "", **params: Any) -> Response:
        return secure(RedirectResponse(pg.url(path, **params) + anchor, status_code=303))

    def not_found(request: Request, user: User, key: str = "adm_unknown_site") -> HTMLResponse:
        pg = web.page(request, user)
        return web.render(request, pg, "staff/message.html", 404, text=pg.T(key))

    async def apply(
        pg: StaffPage, user: User, doc: dict[str, Any], version: str | None
    ) -> list[str] | None:
        """SiteAdmin.apply in a thread; the refusal as lines of text, or None (saved)."""
        try:
            expected = int(version) if version not in (None, "") else None
        except ValueError:
            expected = -1
        try:
            await run_in_threadpool(admin_of().apply, doc, user.name, expected)
        except ConfigInvalid as exc:
            # "0.queues.2.prefix: ..." -> "queues.2.prefix: ..." (the site's place in the
            # list of sites says nothing here)
            return [pg.T("adm_not_saved"), *(re.sub(r"^\d+(\.|: )", "", x) for x in exc.problems)]
        except ConfigConflict:
            return [pg.T("adm_conflict")]
        except DomainError as exc:
            return [pg.T("adm_not_saved"), exc.message.get(pg.lang) or exc.message["en"]]
        except TimeoutError:
            return [pg.T("busy")]
        return None

    def form_error(pg: StaffPage, exc: FormError) -> list[str]:
        return [pg.T("adm_not_saved"), pg.T(exc.key, **exc.params)]

    def site_ctx(site: str, section: str, doc: dict[str, Any], pg: StaffPage) -> dict[str, Any]:
        return {
            "site": site,
            "doc": doc,
            "site_name": pg.local(doc.get("name"), site),
            "section": section,
            "sections": SECTIONS,
            "version": admin_of().version(site),
            "saved": None,
        }

    # ------------------------------------------------------------ overview

    @r.get("/admin/")
    async def home(request: Request, user: Admin) -> HTMLResponse:
        pg = web.page(request, user)
        rows = []
        for sc in admin_of().config.sites:
            online = offline = 0
            warnings = []
            for dev in sc.devices:
                s = summary(sc.id, dev.id)
                if s["online"]:
                    online += 1
                else:
                    offline += 1
                if s["printer"] in WARN_PRINTER:
                    warnings.append((dev.id, s["printer"]))
            rows.append(
                {
                    "id": sc.id,
                    "name": pg.local(sc.name.model_dump(), sc.id),
                    "online": online,
                    "offline": offline,
                    "warnings": warnings,
                    "counts": pg.T(
                        "adm_counts", q=len(sc.queues), s=len(sc.services), d=len(sc.desks)
                    ),
                    "message": pg.local(sc.message.model_dump()) if sc.message else "",
                }
            )
        return web.render(request, pg, "admin/home.html", sites=rows)

    # ------------------------------------------------------------ new site

    def new_site_page(
        request: Request, user: User, vals: dict[str, Any], errors: list[str] | None = None
    ) -> HTMLResponse:
        pg = web.page(request, user)
        return web.render(
            request,
            pg,
            "admin/site_new.html",
            400 if errors else 200,
            vals=vals,
            errors=errors,
        )

    @r.get("/admin/sites/_new")
    async def site_new(request: Request, user: Admin) -> HTMLResponse:
        return new_site_page(
            request, user, {"timezone": "Europe/Helsinki", "languages": list(LANGS)}
        )

    @r.post("/admin/sites/_new")
    async def site_create(request: Request, user: Admin) -> Response:
        form = await web.form(request)
        pg = web.page(request, user)
        sid = text(form, "id")
        try:
            doc = {
                "id": sid,
                "name": names_from(form, "name", required=True),
                "timezone": text(form, "timezone") or "Europe/Helsinki",
                "languages": list(form.getlist("languages")),
                "queues": [],
                "services": [],
            }
        except FormError as exc:
            return new_site_page(request, user, form_vals(form), form_error(pg, exc))
        if sid in site_ids():
            return new_site_page(request, user, form_vals(form), [pg.T("adm_conflict")])
        errors = await apply(pg, user, doc, None)
        if errors:
            return new_site_page(request, user, form_vals(form), errors)
        return go(pg, f"/admin/sites/{sid}", saved=1)

    # ------------------------------------------------------------ a site

    @r.get("/admin/sites/{site}")
    async def site_home(request: Request, site: str, user: Admin) -> HTMLResponse:
        doc = doc_of(site)
        if doc is None:
            return not_found(request, user)
        pg = web.page(request, user)
        devices = []
        tz = doc.get("timezone", "Europe/Helsinki")
        for d in doc.get("devices", []):
            devices.append({**d, "st": status_view(summary(site, d["id"]), tz)})
        return web.render(
            request,
            pg,
            "admin/site.html",
            **{**site_ctx(site, "overview", doc, pg), "saved": request.query_params.get("saved")},
            devices=devices,
        )

    # --- single-form sections

    def section_page(
        request: Request,
        user: User,
        site: str,
        section: str,
        doc: dict[str, Any],
        vals: dict[str, Any],
        errors: list[str] | None = None,
        status: int | None = None,
    ) -> HTMLResponse:
        pg = web.page(request, user)
        return web.render(
            request,
            pg,
            f"admin/{section}.html",
            status
            or (409 if errors and errors[0] == pg.T("adm_conflict") else 400 if errors else 200),
            **{**site_ctx(site, section, doc, pg), "saved": request.query_params.get("saved")},
            vals=vals,
            errors=errors,
            rule_keys=RULE_KEYS,
        )

    def section_vals(section: str, doc: dict[str, Any]) -> dict[str, Any]:
        if section == "general":
            return {
                **names_vals("name", doc.get("name")),
                "timezone": doc.get("timezone", "Europe/Helsinki"),
                "languages": list(doc.get("languages") or []),
                "holidays": {True: "yes", False: "no"}.get(doc.get("holidays"), ""),
            }
        if section == "notice":
            return names_vals("message", doc.get("message"))
        if section == "hours":
            return {
                "hours": hours_text(doc.get("hours")),
                **seasons_vals(doc.get("seasons") or []),
                **closures_vals(doc.get("closures") or []),
            }
        if section == "booking":
            b = doc.get("booking") or {}
            rules = {**_default_rules(), **(b.get("rules") or {})}
            return {
                **{k: _num_text(rules.get(k)) for k in RULE_KEYS},
                "address": b.get("address") or "",
            }
        raise KeyError(section)

    def section_change(section: str, doc: dict[str, Any], form: Any) -> None:
        if section == "general":
            doc["name"] = names_from(form, "name", required=True)
            doc["timezone"] = text(form, "timezone")
            doc["languages"] = list(form.getlist("languages"))
            put(doc, "holidays", {"yes": True, "no": False}.get(text(form, "holidays")))
        elif section == "notice":
            if form.get("clear"):
                doc.pop("message", None)
            else:
                put(doc, "message", names_from(form, "message", required=False))
        elif section == "hours":
            put(doc, "hours", hours_from(text(form, "hours")))
            doc["seasons"] = seasons_from(form)
            doc["closures"] = closures_from(form)
        elif section == "booking":
            b = dict(doc.get("booking") or {})
            rules = dict(b.get("rules") or {})
            for k in RULE_KEYS:
                put(rules, k, opt(form, k))
            b["rules"] = rules
            put(b, "address", opt(form, "address"))
            doc["booking"] = b

    def register_section(section: str) -> None:
        path = "/admin/sites/{site}/" + section

        @r.get(path, name=f"admin_{section}")
        async def show(request: Request, site: str, user: Admin) -> HTMLResponse:
            doc = doc_of(site)
            if doc is None:
                return not_found(request, user)
            return section_page(request, user, site, section, doc, section_vals(section, doc))

        @r.post(path, name=f"admin_{section}_save")
        async def save(request: Request, site: str, user: Admin) -> Response:
            form = await web.form(request)
            doc = doc_of(site)
            if doc is None:
                return not_found(request, user)
            pg = web.page(request, user)
            current = copy.deepcopy(doc)
            try:
                section_change(section, doc, form)
            except FormError as exc:
                return section_page(
                    request, user, site, section, current, form_vals(form), form_error(pg, exc)
                )
            errors = await apply(pg, user, doc, str(form.get("version") or ""))
            if errors:
                return section_page(request, user, site, section, current, form_vals(form), errors)
            return go(pg, f"/admin/sites/{site}/{section}", saved=1)

    for _section in ("general", "notice", "hours", "booking"):
        register_section(_section)

    # --- device status: Server-Sent Events fed from the status board

    @r.get("/admin/sites/{site}/device-status")
    async def device_status(request: Request, site: str, user: Admin) -> Response:
        if doc_of(site) is None:
            return Response(status_code=404)
        pg = web.page(request, user)
        template = web.env.get_template("admin/_devstatus.html")

        def snapshot() -> dict[str, dict[str, Any]]:
            doc = doc_of(site) or {}
            tz = doc.get("timezone", "Europe/Helsinki")
            return {
                d["id"]: status_view(summary(site, d["id"]), tz) for d in doc.get("devices", [])
            }

        async def stream() -> AsyncIterator[str]:
            last: dict[str, dict[str, Any]] = {}
            idle = 0.0
            yield "retry: 3000\n\n"
            while True:
                if await request.is_disconnected():
                    return
                now = snapshot()
                for dev, view in now.items():
                    if last.get(dev) != view:
                        html = template.render(p=pg, st=view)
                        data = json.dumps({"id": dev, "html": html, "warn": view["warn"]})
                        yield f"event: status\ndata: {data}\n\n"
                        idle = 0.0
                last = now
                await asyncio.sleep(STATUS_CHECK_S)
                idle += STATUS_CHECK_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield ": keep-alive\n\n"

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    # --- the lists

    def list_page(
        request: Request,
        user: User,
        site: str,
        kind: Kind,
        doc: dict[str, Any],
        errors: list[str] | None = None,
    ) -> HTMLResponse:
        pg = web.page(request, user)
        status = 200
        if errors:
            status = 409 if errors[0] == pg.T("adm_conflict") else 400
        items = kind.items(doc)
        extra: dict[str, Any] = {}
        tz = doc.get("timezone", "Europe/Helsinki")
        if kind.name == "devices":
            items = [{**d, "st": status_view(summary(site, d["id"]), tz)} for d in items]
        if kind.name in ("queues", "desks"):
            extra["live"] = live_counts(site)
        return web.render(
            request,
            pg,
            f"admin/{kind.name}.html",
            status,
            **{**site_ctx(site, kind.name, doc, pg), "saved": request.query_params.get("saved")},
            items=items,
            kind=kind.name,
            errors=errors,
            **extra,
        )

    def live_counts(site: str) -> dict[str, Any]:
        """Waiting per queue and each desk's state, read by the scheduler's worker thread
        (the only one that touches the running site; scheduler/bridge.py)."""

        def read(sch: Any) -> dict[str, Any]:
            stt = sch.states.get(site)
            if stt is None:
                return {"waiting": {}, "desks": {}}
            waiting: dict[str, int] = {}
            for t in stt.live_tickets():
                if t.status == "waiting":
                    waiting[t.queue] = waiting.get(t.queue, 0) + 1
            desks = {d: rt.status for d, rt in stt.desks.items()}
            return {"waiting": waiting, "desks": desks}

        try:
            return dict(web.host.bridge.call(read).result(5))
        except Exception:
            return {"waiting": {}, "desks": {}}

    def edit_page(
        request: Request,
        user: User,
        site: str,
        kind: Kind,
        doc: dict[str, Any],
        item_id: str | None,
        vals: dict[str, Any],
        errors: list[str] | None = None,
    ) -> HTMLResponse:
        pg = web.page(request, user)
        status = 200
        if errors:
            status = 409 if errors[0] == pg.T("adm_conflict") else 400
        return web.render(
            request,
            pg,
            f"admin/{kind.name}_edit.html",
            status,
            **{**site_ctx(site, kind.name, doc, pg), "saved": request.query_params.get("saved")},
            item_id=item_id,
            vals=vals,
            errors=errors,
            kind=kind.name,
        )

    @r.get("/admin/sites/{site}/{kind_name}")
    async def kind_list(request: Request, site: str, kind_name: str, user: Admin) -> HTMLResponse:
        kind = KINDS.get(kind_name)
        doc = doc_of(site)
        if kind is None or doc is None:
            return not_found(request, user, "not_found" if doc else "adm_unknown_site")
        return await run_in_threadpool(list_page, request, user, site, kind, doc)

    @r.get("/admin/sites/{site}/{kind_name}/{item}")
    async def kind_item(
        request: Request, site: str, kind_name: str, item: str, user: Admin
    ) -> HTMLResponse:
        kind = KINDS.get(kind_name)
        doc = doc_of(site)
        if kind is None or doc is None:
            return not_found(request, user, "not_found" if doc else "adm_unknown_site")
        if item == "_new":
            vals = kind.to_vals({})
            if kind.name == "devices" and request.query_params.get("role") in (
                "kiosk",
                "display",
                "desk",
            ):
                vals["role"] = request.query_params["role"]
            return edit_page(request, user, site, kind, doc, None, vals)
        found = next((x for x in kind.items(doc) if x.get("id") == item), None)
        if found is None:
            return not_found(request, user, "adm_unknown_item")
        return edit_page(request, user, site, kind, doc, item, kind.to_vals(found))

    @r.post("/admin/sites/{site}/{kind_name}/{item}")
    async def kind_save(
        request: Request, site: str, kind_name: str, item: str, user: Admin
    ) -> Response:
        form = await web.form(request)
        kind = KINDS.get(kind_name)
        doc = doc_of(site)
        if kind is None or doc is None:
            return not_found(request, user, "not_found" if doc else "adm_unknown_site")
        pg = web.page(request, user)
        current = copy.deepcopy(doc)
        items = kind.items(doc)
        if item == "_new":
            new_id = text(form, "id")
            old: dict[str, Any] = {"id": new_id}
            at = len(items)
        else:
            at = next((i for i, x in enumerate(items) if x.get("id") == item), -1)
            if at < 0:
                return not_found(request, user, "adm_unknown_item")
            old = items[at]
        try:
            built = kind.build(form, old, doc)
        except FormError as exc:
            return edit_page(
                request,
                user,
                site,
                kind,
                current,
                None if item == "_new" else item,
                form_vals(form),
                form_error(pg, exc),
            )
        items = [*items[:at], built, *items[at + 1 :]]
        kind.set_items(doc, items)
        errors = await apply(pg, user, doc, str(form.get("version") or ""))
        if errors:
            return edit_page(
                request,
                user,
                site,
                kind,
                current,
                None if item == "_new" else item,
                form_vals(form),
                errors,
            )
        return go(pg, f"/admin/sites/{site}/{kind.name}", saved=1)

    @r.post("/admin/sites/{site}/{kind_name}/{item}/remove")
    async def kind_remove(
        request: Request, site: str, kind_name: str, item: str, user: Admin
    ) -> Response:
        form = await web.form(request)
        kind = KINDS.get(kind_name)
        doc = doc_of(site)
        if kind is None or doc is None:
            return not_found(request, user, "not_found" if doc else "adm_unknown_site")
        pg = web.page(request, user)
        current = copy.deepcopy(doc)
        items = kind.items(doc)
        if not any(x.get("id") == item for x in items):
            return not_found(request, user, "adm_unknown_item")
        kind.set_items(doc, [x for x in items if x.get("id") != item])
        errors = await apply(pg, user, doc, str(form.get("version") or ""))
        if errors:
            return await run_in_threadpool(list_page, request, user, site, kind, current, errors)
        return go(pg, f"/admin/sites/{site}/{kind.name}", saved="removed")

    # ------------------------------------------------------------ users

    def users_page(
        request: Request,
        user: User,
        vals: dict[str, Any] | None = None,
        errors: list[str] | None = None,
        status: int | None = None,
    ) -> HTMLResponse:
        pg = web.page(request, user)
        users = web.users.all()
        return web.render(
            request,
            pg,
            "admin/users.html",
            status or (400 if errors else 200),
            users=users,
            site_list=site_ids(),
            roles=ROLES,
            vals=vals or {"role": "advisor", "lang": pg.lang, "sites": []},
            errors=errors,
            min_password=MIN_PASSWORD,
            saved=request.query_params.get("saved"),
        )

    def user_error(pg: StaffPage, exc: UserError) -> list[str]:
        key = f"adm_ue_{exc.code}"
        return [pg.T("adm_not_saved"), pg.T(key, n=MIN_PASSWORD)]

    @r.get("/admin/users")
    async def users_list(request: Request, user: Admin) -> HTMLResponse:
        return users_page(request, user)

    @r.post("/admin/users/_new")
    async def user_add(request: Request, user: Admin) -> Response:
        form = await web.form(request)
        pg = web.page(request, user)
        sites = list(form.getlist("sites"))
        unknown = [s for s in sites if s not in site_ids()]
        try:
            if unknown:
                raise UserError("unknown_site")
            await run_in_threadpool(
                lambda: web.users.add(
                    text(form, "name").lower(),
                    text(form, "role"),
                    str(form.get("password") or ""),
                    display_name=opt(form, "display_name"),
                    sites=sites,
                    lang=text(form, "lang") or "fi",
                )
            )
        except UserError as exc:
            vals = form_vals(form)
            vals.pop("password", None)
            return users_page(request, user, vals, user_error(pg, exc))
        return go(pg, "/admin/users", saved=1)

    def user_page(
        request: Request,
        user: User,
        other: User,
        vals: dict[str, Any] | None = None,
        errors: list[str] | None = None,
        status: int | None = None,
    ) -> HTMLResponse:
        pg = web.page(request, user)
        return web.render(
            request,
            pg,
            "admin/user.html",
            status or (400 if errors else 200),
            other=other,
            site_list=site_ids(),
            roles=ROLES,
            vals=vals
            or {
                "display_name": other.display_name,
                "role": other.role,
                "sites": list(other.sites),
                "lang": other.lang,
            },
            errors=errors,
            min_password=MIN_PASSWORD,
            is_self=other.name == user.name,
            saved=request.query_params.get("saved"),
        )

    @r.get("/admin/users/{name}")
    async def user_show(request: Request, name: str, user: Admin) -> HTMLResponse:
        other = await run_in_threadpool(web.users.get, name)
        if other is None:
            return not_found(request, user, "adm_ue_unknown_user")
        return user_page(request, user, other)

    @r.post("/admin/users/{name}/{action}")
    async def user_action(request: Request, name: str, action: str, user: Admin) -> Response:
        form = await web.form(request)
        pg = web.page(request, user)
        other = await run_in_threadpool(web.users.get, name)
        if other is None:
            return not_found(request, user, "adm_ue_unknown_user")
        if action not in ("details", "password", "disable", "enable", "remove"):
            return not_found(request, user, "not_found")
        demotes = action == "details" and text(form, "role") not in ("", "admin")
        if name == user.name and (action in ("disable", "remove") or demotes):
            return user_page(request, user, other, None, [pg.T("adm_self")], 400)
        try:
            if action == "details":
                sites = list(form.getlist("sites"))
                if any(s not in site_ids() for s in sites):
                    raise UserError("unknown_site")
                await run_in_threadpool(
                    lambda: web.users.update(
                        name,
                        display_name=text(form, "display_name"),
                        role=text(form, "role"),
                        sites=sites,
                        lang=text(form, "lang") or None,
                    )
                )
            elif action == "password":
                await run_in_threadpool(
                    web.users.set_password, name, str(form.get("password") or "")
                )
            elif action in ("disable", "enable"):
                await run_in_threadpool(
                    lambda: web.users.update(name, disabled=action == "disable")
                )
            else:
                await run_in_threadpool(web.users.remove, name)
                return go(pg, "/admin/users", saved="removed")
        except UserError as exc:
            vals = form_vals(form) if action == "details" else None
            return user_page(request, user, other, vals, user_error(pg, exc))
        return go(pg, f"/admin/users/{name}", saved=1)

    return r


def _default_rules() -> dict[str, Any]:
    from scheduler.booking.config import RulesCfg

    return RulesCfg().model_dump()


def status_label(lang: str, value: str) -> str:
    """A printer or reader state in words (unknown states as they came)."""
    key = f"adm_st_{value}"
    got = st(lang, key)
    return value if got == key else got
