"""The daily report and the monthly provider report (docs/reports.md): tables built from
`measures`, written as CSV, JSON or an HTML page with charts (PNG, inline as data: URIs,
so the page is one self-contained file and passes the staff pages' CSP).

CSV: one file, a section per table: a line `[name]`, the header, the rows, an empty line.
Numbers in minutes with two decimals; the service level as a share 0..1.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from scheduler.domain.model import SiteDef
from scheduler.stats import measures as ms
from scheduler.stats import plots
from scheduler.stats.config import EVENT_TYPES, ReportsCfg

MEASURE_COLS = (
    "customers",
    "walk_ins",
    "appointments",
    "served",
    "transfers",
    "noshows",
    "wait_mean_min",
    "wait_median_min",
    "wait_p90_min",
    "service_level",
    "service_mean_min",
    "service_median_min",
)

# The report's words, fi/sv/en (the web page registers them as `rep_<key>`).
STRINGS: dict[str, dict[str, str]] = {
    "fi": {
        "title_daily": "Päiväraportti",
        "title_monthly": "Kuukausiraportti palveluntuottajille",
        "all_providers": "kaikki palveluntuottajat",
        "t_summary": "Yhteenveto",
        "t_events": "Tapahtumat palveluntuottajittain ja hinnoittelu",
        "t_handling": "Käsittelyajat palveluntuottajittain ja palveluittain",
        "t_bands": "Saapuneet asiakkaat vuorokaudenajoittain",
        "t_queues": "Jonot",
        "t_desks": "Palvelupisteet",
        "t_advisors": "Asiantuntijat (ajanvaraukset)",
        "t_hours": "Tunneittain",
        "t_days": "Päivittäin",
        "c_site": "Toimipiste",
        "c_provider": "Palveluntuottaja",
        "c_service": "Palvelu",
        "c_queue": "Jono",
        "c_desk": "Palvelupiste",
        "c_advisor": "Asiantuntija",
        "c_hour": "Tunti",
        "c_day": "Päivä",
        "c_event_type": "Tapahtuma",
        "c_count": "Määrä",
        "c_nominal_min": "Nimellisminuutit",
        "c_minutes": "Minuutit yhteensä",
        "c_price_per_min_eur": "€/min",
        "c_price_eur": "Hinta €",
        "c_customers": "Asiakkaat",
        "c_walk_ins": "Vuoronumerolla",
        "c_appointments": "Ajanvaraus",
        "c_served": "Palveltu",
        "c_transfers": "Siirretty",
        "c_noshows": "Ei saapunut",
        "c_wait_mean_min": "Odotus ka. min",
        "c_wait_median_min": "Odotus mediaani min",
        "c_wait_p90_min": "Odotus 90 % min",
        "c_service_level": "Palvelutaso",
        "c_service_mean_min": "Käsittely ka. min",
        "c_service_median_min": "Käsittely mediaani min",
        "c_service_events": "Palvelutapahtumat",
        "c_total": "Yhteensä",
        "e_walk_in": "vuoronumero",
        "e_appointment": "ajanvaraus",
        "e_served": "palveltu",
        "e_transferred": "siirretty",
        "e_noshow": "ei saapunut",
        "all": "kaikki",
        "total": "yhteensä",
        "other": "muu",
        "no_data": "Ei asiakkaita tällä jaksolla.",
        "sl_note": "Palvelutaso: osuus asiakkaista, jotka kutsuttiin jonon tavoiteajassa.",
        "wait_title": "Odotusajan jakauma",
        "wait_x": "Odotus (min)",
        "wait_y": "Asiakkaita",
        "heat_title": "Saapuneet tunneittain viikonpäivän mukaan (keskiarvo)",
        "heat_x": "Tunti",
        "heat_bar": "asiakasta / tunti",
        "sl_title": "Palvelutaso päivittäin",
        "sl_y": "Tavoiteajassa kutsutut %",
        "weekdays": "ma ti ke to pe la su",
    },
    "sv": {
        "title_daily": "Dagsrapport",
        "title_monthly": "Månadsrapport till tjänsteproducenterna",
        "all_providers": "alla tjänsteproducenter",
        "t_summary": "Sammanfattning",
        "t_events": "Händelser per tjänsteproducent och prissättning",
        "t_handling": "Handläggningstider per tjänsteproducent och tjänst",
        "t_bands": "Ankomna kunder efter tid på dygnet",
        "t_queues": "Köer",
        "t_desks": "Betjäningspunkter",
        "t_advisors": "Kundbetjänare (tidsbokningar)",
        "t_hours": "Per timme",
        "t_days": "Per dag",
        "c_site": "Verksamhetsställe",
        "c_provider": "Tjänsteproducent",
        "c_service": "Tjänst",
        "c_queue": "Kö",
        "c_desk": "Betjäningspunkt",
        "c_advisor": "Kundbetjänare",
        "c_hour": "Timme",
        "c_day": "Dag",
        "c_event_type": "Händelse",
        "c_count": "Antal",
        "c_nominal_min": "Nominella minuter",
        "c_minutes": "Minuter totalt",
        "c_price_per_min_eur": "€/min",
        "c_price_eur": "Pris €",
        "c_customers": "Kunder",
        "c_walk_ins": "Könummer",
        "c_appointments": "Tidsbokning",
        "c_served": "Betjänade",
        "c_transfers": "Överförda",
        "c_noshows": "Kom inte",
        "c_wait_mean_min": "Väntan medel min",
        "c_wait_median_min": "Väntan median min",
        "c_wait_p90_min": "Väntan 90 % min",
        "c_service_level": "Servicenivå",
        "c_service_mean_min": "Handläggning medel min",
        "c_service_median_min": "Handläggning median min",
        "c_service_events": "Betjäningshändelser",
        "c_total": "Totalt",
        "e_walk_in": "könummer",
        "e_appointment": "tidsbokning",
        "e_served": "betjänad",
        "e_transferred": "överförd",
        "e_noshow": "kom inte",
        "all": "alla",
        "total": "totalt",
        "other": "övrig",
        "no_data": "Inga kunder under perioden.",
        "sl_note": "Servicenivå: andelen kunder som ropades upp inom köns måltid.",
        "wait_title": "Väntetidernas fördelning",
        "wait_x": "Väntan (min)",
        "wait_y": "Kunder",
        "heat_title": "Ankomster per timme och veckodag (medeltal)",
        "heat_x": "Timme",
        "heat_bar": "kunder / timme",
        "sl_title": "Servicenivå per dag",
        "sl_y": "Uppropade inom måltiden %",
        "weekdays": "mån tis ons tor fre lör sön",
    },
    "en": {
        "title_daily": "Daily report",
        "title_monthly": "Monthly provider report",
        "all_providers": "all providers",
        "t_summary": "Summary",
        "t_events": "Events per provider and pricing",
        "t_handling": "Handling times per provider and service",
        "t_bands": "Arrivals by time of day",
        "t_queues": "Queues",
        "t_desks": "Desks",
        "t_advisors": "Advisors (appointments)",
        "t_hours": "By hour",
        "t_days": "By day",
        "c_site": "Site",
        "c_provider": "Provider",
        "c_service": "Service",
        "c_queue": "Queue",
        "c_desk": "Desk",
        "c_advisor": "Advisor",
        "c_hour": "Hour",
        "c_day": "Day",
        "c_event_type": "Event",
        "c_count": "Count",
        "c_nominal_min": "Nominal minutes",
        "c_minutes": "Minutes in all",
        "c_price_per_min_eur": "€/min",
        "c_price_eur": "Price €",
        "c_customers": "Customers",
        "c_walk_ins": "Walk-ins",
        "c_appointments": "Appointments",
        "c_served": "Served",
        "c_transfers": "Transferred",
        "c_noshows": "No-shows",
        "c_wait_mean_min": "Wait mean min",
        "c_wait_median_min": "Wait median min",
        "c_wait_p90_min": "Wait 90th pct min",
        "c_service_level": "Service level",
        "c_service_mean_min": "Handling mean min",
        "c_service_median_min": "Handling median min",
        "c_service_events": "Service events",
        "c_total": "Total",
        "e_walk_in": "walk-in",
        "e_appointment": "appointment",
        "e_served": "served",
        "e_transferred": "transferred",
        "e_noshow": "no-show",
        "all": "all",
        "total": "total",
        "other": "other",
        "no_data": "No customers in this period.",
        "sl_note": "Service level: the share of customers called within their queue's target.",
        "wait_title": "Waiting-time distribution",
        "wait_x": "Wait (min)",
        "wait_y": "Customers",
        "heat_title": "Arrivals per hour by weekday (mean)",
        "heat_x": "Hour",
        "heat_bar": "customers / hour",
        "sl_title": "Service level by day",
        "sl_y": "Called within target %",
        "weekdays": "Mon Tue Wed Thu Fri Sat Sun",
    },
}


class ReportError(ValueError):
    """A bad request for a report (unknown site or provider, bad date): the message says."""


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@dataclass
class Report:
    kind: str  # daily, monthly
    site: str
    period: str  # YYYY-MM-DD or YYYY-MM
    provider: str | None
    first: date
    last: date
    tables: list[Table]
    data: ms.Data

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "site": self.site,
            "period": self.period,
            "provider": self.provider,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "tables": {t.name: t.dicts() for t in self.tables},
        }


# ---------------------------------------------------------------------------- periods


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"bad date {text!r}: give YYYY-MM-DD, e.g. 2026-11-24") from None


def parse_month(text: str) -> date:
    try:
        y, m = text.split("-")
        if len(y) != 4 or len(m) != 2:
            raise ValueError(text)
        return date(int(y), int(m), 1)
    except ValueError:
        raise ReportError(f"bad month {text!r}: give YYYY-MM, e.g. 2026-11") from None


def month_last(first: date) -> date:
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


# ---------------------------------------------------------------------------- building


def _measure_row(m: ms.Measure) -> list[Any]:
    d = m.as_dict()
    return [d[c] for c in MEASURE_COLS]


def _dim_table(name: str, dims: Sequence[str], data: ms.Data) -> Table:
    tbl = Table(name, [*dims, *MEASURE_COLS])
    for m in ms.aggregate(data, dims):
        tbl.rows.append([m.key[d] for d in dims] + _measure_row(m))
    return tbl


def _events_table(data: ms.Data, site: str, cfg: ReportsCfg) -> Table:
    """Counts per site x provider x event type, priced where nominal minutes are set."""
    tbl = Table(
        "events",
        [
            "site",
            "provider",
            "event_type",
            "count",
            "nominal_min",
            "minutes",
            "price_per_min_eur",
            "price_eur",
        ],
    )
    counts: dict[tuple[str, str], int] = {}
    for v in data.visits:
        k = (v.provider, "appointment" if v.appointment else "walk_in")
        counts[k] = counts.get(k, 0) + 1
    for o in data.outcomes:
        counts[(o.provider, o.kind)] = counts.get((o.provider, o.kind), 0) + 1
    total = 0.0
    for provider in sorted({p for p, _ in counts}):
        for et in EVENT_TYPES:
            n = counts.get((provider, et), 0)
            nominal = cfg.nominal(provider, et)
            if nominal is None:
                tbl.rows.append([site, provider, et, n, None, None, None, None])
                continue
            per_min = cfg.price_per_min(provider)
            minutes = round(n * nominal, 2)
            price = round(minutes * per_min, 2)
            total += price
            tbl.rows.append([site, provider, et, n, nominal, minutes, per_min, price])
    tbl.rows.append([site, "total", "", None, None, None, None, round(total, 2)])
    return tbl


def _handling_table(data: ms.Data) -> Table:
    tbl = Table(
        "handling",
        ["provider", "service", "service_events", "service_mean_min", "service_median_min"],
    )
    only_outcomes = ms.Data(data.site, data.first, data.last, [], data.outcomes, data.now)
    rows: list[list[Any]] = []
    for m in ms.aggregate(only_outcomes, ("provider",)):
        p = m.key["provider"]
        rows.append([p, "all", m.service_events, m.service_min(), m.service_min(0.5)])
    for m in ms.aggregate(only_outcomes, ("provider", "service")):
        p, s = m.key["provider"], m.key["service"]
        rows.append([p, s, m.service_events, m.service_min(), m.service_min(0.5)])
    rows.sort(key=lambda r: (r[0], r[1] != "all", r[1]))
    tbl.rows = rows
    return tbl


def _bands_table(data: ms.Data) -> Table:
    tbl = Table("bands", ["provider", *ms.BANDS, "total"])
    for m in ms.aggregate(data, ("provider",)):
        if m.customers:
            tbl.rows.append([m.key["provider"], *m.bands.values(), m.customers])
    return tbl


def build(
    engine: Engine,
    site: SiteDef,
    kind: str,
    period: str,
    *,
    provider: str | None = None,
    cfg: ReportsCfg | None = None,
    now: datetime | None = None,
) -> Report:
    """The daily (`period` YYYY-MM-DD) or monthly (YYYY-MM) report of `site`, of one
    provider or all. ReportError for a bad period or an unknown provider."""
    cfg = cfg or ReportsCfg()
    if kind == "daily":
        first = last = parse_day(period)
    elif kind == "monthly":
        first = parse_month(period)
        last = month_last(first)
    else:
        raise ReportError(f"unknown report {kind!r}: daily or monthly")
    known = {s.provider for s in site.services.values()}
    data = ms.load(engine, site, first, last, now=now)
    if provider is not None:
        if provider not in known | set(data.providers()):
            one_of = ", ".join(sorted(known))
            raise ReportError(f"unknown provider {provider!r} at site {site.id!r}: one of {one_of}")
        data = data.only_provider(provider)
    total = ms.aggregate(data, ())
    summary = Table("summary", list(MEASURE_COLS), [_measure_row(m) for m in total])
    appts = ms.Data(
        site,
        first,
        last,
        [v for v in data.visits if v.appointment],
        [o for o in data.outcomes if o.appointment],
        data.now,
    )
    tables = [
        summary,
        _events_table(data, site.id, cfg),
        _handling_table(data),
        _bands_table(data),
        _dim_table("queues", ("queue",), data),
        _dim_table("desks", ("desk",), data),
        _dim_table("advisors", ("advisor",), appts),
        _dim_table("hours", ("hour",), data),
    ]
    if kind == "monthly":
        tables.append(_dim_table("days", ("day",), data))
    return Report(kind, site.id, period, provider, first, last, tables, data)


# ---------------------------------------------------------------------------- output


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["report", report.kind, "site", report.site, "period", report.period])
    w.writerow(["provider", report.provider or "all"])
    w.writerow([])
    for tbl in report.tables:
        w.writerow([f"[{tbl.name}]"])
        w.writerow(tbl.columns)
        for r in tbl.rows:
            w.writerow([_cell(v) for v in r])
        w.writerow([])
    return out.getvalue()


def read_csv_sections(text: str) -> dict[str, list[dict[str, str]]]:
    """The sections of `to_csv`'s output as lists of dicts (tests and tools use it)."""
    got: dict[str, list[dict[str, str]]] = {}
    rows = list(csv.reader(io.StringIO(text)))
    i = 0
    while i < len(rows):
        r = rows[i]
        if len(r) == 1 and r[0].startswith("[") and r[0].endswith("]"):
            header = rows[i + 1]
            body: list[dict[str, str]] = []
            i += 2
            while i < len(rows) and rows[i]:
                body.append(dict(zip(header, rows[i], strict=True)))
                i += 1
            got[r[0][1:-1]] = body
        i += 1
    return got


def words(lang: str) -> dict[str, str]:
    return STRINGS.get(lang, STRINGS["fi"])


def charts(report: Report, lang: str) -> dict[str, bytes]:
    """The three charts as PNG bytes: waits, heat (load by weekday x hour), sl (by day)."""
    w = words(lang)
    data = report.data
    waits = [v.wait_s / 60 for v in data.visits if v.wait_s is not None]
    days = ms.by_day(data, lambda m: m.service_level)
    return {
        "waits": plots.wait_histogram(waits, w),
        "heat": plots.load_heatmap(ms.load_profile(data), w["weekdays"].split(), w),
        "sl": plots.service_level_by_day(days, w),
    }


def _fmt(col: str, v: Any, w: dict[str, str]) -> str:
    if v is None:
        return "–"
    if col == "service_level":
        return f"{100 * v:.1f} %"
    if col == "event_type":
        return w.get(f"e_{v}", str(v)) if v else ""
    if col == "band" or (col in ("provider", "service") and v in ("all", "total")):
        return w.get(str(v), str(v))
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def html_fragment(
    report: Report,
    lang: str,
    *,
    name_of: Callable[[str, str], str] | None = None,
    with_charts: bool = True,
) -> str:
    """The report's tables and charts as an HTML fragment (the web page embeds it).
    `name_of(column, value)` may give display names of providers, services and queues."""
    w = words(lang)
    e = html.escape
    parts: list[str] = []
    if not report.data.visits and not report.data.outcomes:
        parts.append(f'<p class="rep-empty">{e(w["no_data"])}</p>')
    if with_charts:
        alt = {"waits": "wait_title", "heat": "heat_title", "sl": "sl_title"}
        parts.append('<div class="rep-charts">')
        for key, png in charts(report, lang).items():
            uri = "data:image/png;base64," + base64.b64encode(png).decode()
            parts.append(
                f'<figure class="rep-chart"><img src="{uri}" alt="{e(w[alt[key]])}">'
                f"<figcaption>{e(w[alt[key]])}</figcaption></figure>"
            )
        parts.append("</div>")
    for tbl in report.tables:
        if not tbl.rows:
            continue
        parts.append(f'<div class="rep-table"><table id="rep-{e(tbl.name)}">')
        parts.append(f"<caption>{e(w['t_' + tbl.name])}</caption><thead><tr>")
        for c in tbl.columns:
            label = w.get(f"c_{c}") or w.get(c, c)
            parts.append(f'<th scope="col">{e(label)}</th>')
        parts.append("</tr></thead><tbody>")
        for r in tbl.rows:
            parts.append("<tr>")
            for c, v in zip(tbl.columns, r, strict=True):
                text = _fmt(c, v, w)
                if name_of is not None and c in ("provider", "service", "queue") and v:
                    text = name_of(c, str(v)) if v not in ("all", "total") else text
                num = isinstance(v, int | float) and not isinstance(v, bool)
                parts.append(f"<td{' class=num' if num else ''}>{e(text)}</td>")
            parts.append("</tr>")
        parts.append("</tbody></table></div>")
    parts.append(f'<p class="rep-note">{e(w["sl_note"])}</p>')
    return "\n".join(parts)


def to_html(report: Report, lang: str = "fi") -> str:
    """A complete, self-contained HTML page (CLI `--format html`)."""
    w = words(lang)
    title = w[f"title_{report.kind}"]
    who = report.provider or w["all_providers"]
    head = f"{title}: {report.site}, {report.period}, {who}"
    style = (
        "body{font-family:sans-serif;margin:1.5rem;color:#1b1b1b}"
        "table{border-collapse:collapse;margin:1rem 0}caption{text-align:left;font-weight:bold;"
        "padding:.3rem 0}th,td{border:1px solid #bbb;padding:.25rem .5rem}td.num{text-align:right}"
        "th{background:#eef2f7}.rep-charts{display:flex;flex-wrap:wrap;gap:1rem}"
        "figure{margin:0}img{max-width:100%}"
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(head)}</title><style>{style}</style></head><body>"
        f"<h1>{html.escape(head)}</h1>{html_fragment(report, lang)}</body></html>"
    )
