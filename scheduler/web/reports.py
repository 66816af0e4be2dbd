"""The admin's reports page (docs/reports.md): `/admin/reports` shows the daily report or
the monthly provider report of a site (one provider or all) with its tables and charts;
`/admin/reports.csv` downloads the same report as CSV. Role admin only.

No `from __future__ import annotations` here: FastAPI resolves `Annotated[User,
Depends(guard)]` with the local `guard` at definition time.
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from scheduler.domain.model import SiteDef
from scheduler.stats import report as rp
from scheduler.stats.config import ReportsCfg
from scheduler.web.auth import User
from scheduler.web.staff import StaffWeb, register, secure

_WORDS = {lang: {f"rep_{k}": v for k, v in rp.STRINGS[lang].items()} for lang in rp.STRINGS}
_PAGE = {
    "fi": {
        "rep_page": "Raportit",
        "rep_pick": "Valitse raportti",
        "rep_site": "Toimipiste",
        "rep_kind": "Raportti",
        "rep_kind_daily": "Päivä",
        "rep_kind_monthly": "Kuukausi (palveluntuottajat)",
        "rep_day": "Päivä",
        "rep_month": "Kuukausi",
        "rep_provider": "Palveluntuottaja",
        "rep_show": "Näytä",
        "rep_csv": "Lataa CSV",
        "rep_no_sites": "Ei toimipisteitä.",
    },
    "sv": {
        "rep_page": "Rapporter",
        "rep_pick": "Välj rapport",
        "rep_site": "Verksamhetsställe",
        "rep_kind": "Rapport",
        "rep_kind_daily": "Dag",
        "rep_kind_monthly": "Månad (tjänsteproducenter)",
        "rep_day": "Dag",
        "rep_month": "Månad",
        "rep_provider": "Tjänsteproducent",
        "rep_show": "Visa",
        "rep_csv": "Ladda ner CSV",
        "rep_no_sites": "Inga verksamhetsställen.",
    },
    "en": {
        "rep_page": "Reports",
        "rep_pick": "Choose a report",
        "rep_site": "Site",
        "rep_kind": "Report",
        "rep_kind_daily": "Day",
        "rep_kind_monthly": "Month (providers)",
        "rep_day": "Day",
        "rep_month": "Month",
        "rep_provider": "Provider",
        "rep_show": "Show",
        "rep_csv": "Download CSV",
        "rep_no_sites": "No sites.",
    },
}
register({lang: {**_WORDS[lang], **_PAGE[lang]} for lang in _PAGE})

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def reports_router(web: StaffWeb) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    guard = web.guard("admin")
    Admin = Annotated[User, Depends(guard)]

    def config() -> Any:
        host = web.host
        return host.admin.config if host is not None and host.admin is not None else None

    def sites() -> dict[str, SiteDef]:
        cfg = config()
        if cfg is not None:
            return {s.id: s.to_domain() for s in cfg.sites}
        if web.booking is not None:
            return {k: sb.site for k, sb in web.booking.sites.items()}
        return {}

    def reports_cfg() -> ReportsCfg:
        cfg = config()
        got = getattr(cfg, "reports", None) if cfg is not None else None
        return got if isinstance(got, ReportsCfg) else ReportsCfg()

    def choose(request: Request) -> dict[str, Any]:
        """The picked site, kind, period and provider (defaults: first site, today)."""
        q = request.query_params
        all_sites = sites()
        site_id = q.get("site") or next(iter(sorted(all_sites)), "")
        site = all_sites.get(site_id)
        kind = q.get("kind") if q.get("kind") in ("daily", "monthly") else "daily"
        tz = site.tz if site is not None else UTC
        today = datetime.now(UTC).astimezone(tz).date()
        day = q.get("day") or today.isoformat()
        month = q.get("month") or today.strftime("%Y-%m")
        provider = q.get("provider") or None
        return {
            "sites": all_sites,
            "site_id": site_id,
            "site": site,
            "kind": kind,
            "day": day,
            "month": month,
            "provider": provider,
            "period": day if kind == "daily" else month,
        }

    def build(ch: dict[str, Any]) -> rp.Report:
        site = ch["site"]
        if site is None:
            raise rp.ReportError("unknown site")
        return rp.build(
            web.users.engine,
            site,
            ch["kind"],
            ch["period"],
            provider=ch["provider"],
            cfg=reports_cfg(),
            now=datetime.now(UTC),
        )

    @r.get("/admin/reports")
    async def reports_page(request: Request, user: Admin) -> Response:
        pg = web.page(request, user)
        ch = choose(request)
        site: SiteDef | None = ch["site"]
        error = None
        body = ""
        if site is None:
            error = pg.T("rep_no_sites") if not ch["sites"] else f"{ch['site_id']}?"
            status = 404 if ch["sites"] else 200
        else:
            status = 200
            try:
                report = await run_in_threadpool(build, ch)

                def name_of(col: str, value: str) -> str:
                    if col == "provider":
                        return value
                    names = site.services if col == "service" else site.queues
                    d = names.get(value)
                    return pg.local(d.name, value) if d is not None else value

                body = await run_in_threadpool(rp.html_fragment, report, pg.lang, name_of=name_of)
            except rp.ReportError as exc:
                error, status = str(exc), 400
        providers = sorted({s.provider for s in site.services.values()}) if site else []
        title = pg.T(f"rep_title_{ch['kind']}")
        csv_url = pg.url(
            "/admin/reports.csv",
            site=ch["site_id"],
            kind=ch["kind"],
            day=ch["day"],
            month=ch["month"],
            provider=ch["provider"],
        )
        return web.render(
            request,
            pg,
            "staff/reports.html",
            status,
            ch=ch,
            site_names={k: pg.local(v.name, k) for k, v in ch["sites"].items()},
            providers=providers,
            title=title,
            body=body,
            error=error,
            csv_url=csv_url,
        )

    @r.get("/admin/reports.csv")
    async def reports_csv(request: Request, user: Admin) -> Response:
        ch = choose(request)
        if ch["site"] is None:
            return secure(Response("unknown site\n", 404, media_type="text/plain"))
        try:
            report = await run_in_threadpool(build, ch)
        except rp.ReportError as exc:
            return secure(Response(f"{exc}\n", 400, media_type="text/plain"))
        parts = [ch["site_id"], ch["period"], *([ch["provider"]] if ch["provider"] else [])]
        name = "-".join(p for p in parts if _ID.match(p) or re.match(r"^[0-9-]+$", p))
        resp = Response(rp.to_csv(report), media_type="text/csv; charset=utf-8")
        resp.headers["Content-Disposition"] = f'attachment; filename="vuoro-{name}.csv"'
        return secure(resp)

    return r
