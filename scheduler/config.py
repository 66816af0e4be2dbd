"""The scheduler's configuration file (documented in docs/configuration.md).

`load_config(path)` reads the TOML file, applies `VUORO_*` environment overrides and
returns a checked `SchedulerConfig`, whose `site_defs()` are the domain's definitions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from firmware_common import config as cfg
from firmware_common.protocol import DEVICE_ID_RE, SITE_RE
from scheduler.booking.config import (
    BookingCfg,
    ServiceBookingCfg,
    SiteBookingCfg,
    WebCfg,
    check_site_booking,
)
from scheduler.domain.hours import (
    FrozenMap,
    OpeningCalendar,
    OpeningHours,
    Season,
    SpecialHours,
    WeeklyHours,
    parse_day,
    parse_intervals,
)
from scheduler.domain.model import DeskDef, DeviceDef, QueueDef, ServiceDef, SiteDef
from scheduler.stats.config import ReportsCfg

Ident = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
DeskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
Hours = dict[str, list[str] | str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Names(_Strict):
    fi: str
    sv: str
    en: str


class SeasonCfg(_Strict):
    """`[[sites.seasons]]`: a period with its own week, e.g. summer hours."""

    name: str
    from_: str | date = Field(alias="from")  # "06-01" every year, or "2026-06-01"
    to: str | date
    hours: Hours


class ClosureCfg(_Strict):
    """`[[sites.closures]]`: one date or a from/to range, closed or with special `hours`."""

    on: str | date | None = Field(None, alias="date")
    from_: str | date | None = Field(None, alias="from")
    to: str | date | None = None
    hours: list[str] | str | None = None  # none: closed all day
    reason: Names | None = None


class QueueCfg(_Strict):
    id: Ident
    prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]
    name: Names
    weight: Annotated[float, Field(gt=0)] = 1.0
    sl_target_min: Annotated[float, Field(gt=0)] = 15.0
    max_waiting: Annotated[int, Field(ge=1)] | None = None
    mean_service_min: Annotated[float, Field(gt=0)] = 8.0


class ServiceCfg(_Strict):
    id: Ident
    name: Names
    provider: Ident
    queue: Ident
    walk_in: bool = True
    appointments: bool = False
    walk_in_hours: Hours | None = None
    instructions: Names | None = None
    hours: Hours | None = None  # the service's own week (none: the site's hours)
    appointment_hours: Hours | None = None  # when bookable (none: while open)
    seasons: list[SeasonCfg] = []
    closures: list[ClosureCfg] = []
    booking: ServiceBookingCfg | None = None  # duration, needed resources, pre-questions


class DeskCfg(_Strict):
    id: DeskId
    name: str | None = None
    queues: list[Ident]


class DeviceCfg(_Strict):
    id: Annotated[str, StringConstraints(pattern=DEVICE_ID_RE.pattern)]
    role: Literal["kiosk", "display", "desk"]
    desks: list[DeskId] = []
    layout: Literal["landscape", "portrait"] = "landscape"
    # A kiosk's own numbers for offline mode, e.g. "901-949": while the scheduler does not
    # answer, the kiosk numbers tickets from this range itself (never two alike: the
    # scheduler does not use these numbers).
    offline_numbers: Annotated[str, StringConstraints(pattern=r"^\d{1,3}-\d{1,3}$")] | None = None

    def offline_range(self) -> tuple[int, int] | None:
        if self.offline_numbers is None:
            return None
        a, b = (int(x) for x in self.offline_numbers.split("-"))
        return a, b


class SiteCfg(_Strict):
    id: Annotated[str, StringConstraints(pattern=SITE_RE.pattern)]
    name: Names
    timezone: str = "Europe/Helsinki"
    languages: list[Literal["fi", "sv", "en"]] = ["fi", "sv", "en"]
    hours: Hours | None = None
    # Finnish public holidays closed; default: when the site has `hours`.
    holidays: bool | None = None
    seasons: list[SeasonCfg] = []
    closures: list[ClosureCfg] = []
    message: Names | None = None
    queues: list[QueueCfg]
    services: list[ServiceCfg]
    desks: list[DeskCfg] = []
    devices: list[DeviceCfg] = []
    booking: SiteBookingCfg | None = None  # rules, advisors, extra resources

    @model_validator(mode="after")
    def _cross_check(self) -> SiteCfg:
        where = f"site {self.id!r}"
        _unique([q.id for q in self.queues], f"{where}: queue id")
        _unique([q.prefix for q in self.queues], f"{where}: queue prefix")
        _unique([s.id for s in self.services], f"{where}: service id")
        _unique([d.id for d in self.desks], f"{where}: desk id")
        _unique([d.id for d in self.devices], f"{where}: device id")
        queues = {q.id for q in self.queues}
        desks = {d.id for d in self.desks}
        for s in self.services:
            if s.queue not in queues:
                raise ValueError(f"{where}: service {s.id!r} feeds unknown queue {s.queue!r}")
        for d in self.desks:
            for q in d.queues:
                if q not in queues:
                    raise ValueError(f"{where}: desk {d.id!r} serves unknown queue {q!r}")
        taken: list[tuple[int, int, str]] = []
        for dev in self.devices:
            rng = dev.offline_range()
            if rng is None:
                continue
            if dev.role != "kiosk":
                raise ValueError(f"{where}: offline_numbers is for kiosks, not {dev.id!r}")
            a, b = rng
            if not 1 <= a <= b <= 999:
                raise ValueError(f"{where}: kiosk {dev.id!r} offline_numbers must lie in 1-999")
            if b - a + 1 > 500:
                raise ValueError(f"{where}: kiosk {dev.id!r} offline_numbers: at most 500")
            for x, y, other in taken:
                if a <= y and x <= b:
                    raise ValueError(
                        f"{where}: kiosks {other!r} and {dev.id!r} have overlapping offline_numbers"
                    )
            taken.append((a, b, dev.id))
        for dev in self.devices:
            if dev.role == "desk" and not dev.desks:
                raise ValueError(f"{where}: desk device {dev.id!r} names no desks")
            for d in dev.desks:
                if d not in desks:
                    raise ValueError(f"{where}: device {dev.id!r} names unknown desk {d!r}")
        self.site_hours()
        for s in self.services:
            self.service_hours(s)
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except Exception:
            raise ValueError(f"{where}: unknown timezone {self.timezone!r}") from None
        check_site_booking(self)
        return self

    def site_hours(self) -> OpeningHours:
        """The site's opening calendar; ValueError naming the site and the bad value."""
        closed_on_holidays = self.holidays if self.holidays is not None else bool(self.hours)
        holidays = FINNISH_HOLIDAYS if closed_on_holidays else None
        where = f"site {self.id!r}"
        calendar = _calendar(where, self.hours, self.seasons, self.closures, holidays)
        return calendar or WeeklyHours.always()

    def service_hours(self, s: ServiceCfg) -> dict[str, OpeningHours | None]:
        """ServiceDef's `hours`, `walk_in_hours` and `appointment_hours`."""
        where = f"site {self.id!r}: service {s.id!r}"
        return {
            "hours": _calendar(where, s.hours, s.seasons, s.closures, None),
            "walk_in_hours": _week(f"{where}: walk_in_hours", s.walk_in_hours),
            "appointment_hours": _week(f"{where}: appointment_hours", s.appointment_hours),
        }

    def to_domain(self) -> SiteDef:
        return SiteDef(
            id=self.id,
            name=self.name.model_dump(),
            timezone=self.timezone,
            languages=tuple(self.languages),
            hours=self.site_hours(),
            message=self.message.model_dump() if self.message else None,
            advisor_desks=(
                {a.id: a.desk for a in self.booking.advisors if a.desk} if self.booking else {}
            ),
            queues={
                q.id: QueueDef(
                    id=q.id,
                    prefix=q.prefix,
                    name=q.name.model_dump(),
                    weight=q.weight,
                    sl_target_min=q.sl_target_min,
                    max_waiting=q.max_waiting,
                    mean_service_min=q.mean_service_min,
                )
                for q in self.queues
            },
            services={
                s.id: ServiceDef(
                    id=s.id,
                    name=s.name.model_dump(),
                    provider=s.provider,
                    queue=s.queue,
                    walk_in=s.walk_in,
                    appointments=s.appointments,
                    **self.service_hours(s),
                    instructions=s.instructions.model_dump() if s.instructions else None,
                )
                for s in self.services
            },
            desks={d.id: DeskDef(id=d.id, queues=tuple(d.queues), name=d.name) for d in self.desks},
            devices={
                d.id: DeviceDef(
                    id=d.id,
                    role=d.role,
                    desks=tuple(d.desks),
                    layout=d.layout,
                    offline_numbers=d.offline_range(),
                )
                for d in self.devices
            },
        )


class MqttCfg(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str = "scheduler"
    password: str | None = None
    password_file: str | None = None
    client_id: str = "scheduler"
    tls: bool = False
    ca_file: str | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30

    def secret(self) -> str | None:
        if self.password is not None:
            return self.password
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise cfg.ConfigError(
                    f"mqtt.password_file {self.password_file}: {exc.strerror}"
                ) from None
        return None


class SchedulerCfg(_Strict):
    database: str = "sqlite:///var/lib/vuoro/vuoro.db"
    status_url_base: str = "http://localhost:8080/t/"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    batch_max: Annotated[int, Field(ge=1, le=1000)] = 200


class SchedulerConfig(_Strict):
    scheduler: SchedulerCfg = SchedulerCfg()
    mqtt: MqttCfg = MqttCfg()
    booking: BookingCfg = BookingCfg()
    web: WebCfg = WebCfg()
    reports: ReportsCfg = ReportsCfg()  # priced events of the provider report (docs/reports.md)
    sites: list[SiteCfg]

    @model_validator(mode="after")
    def _unique_ids(self) -> SchedulerConfig:
        _unique([s.id for s in self.sites], "site id")
        _unique([d.id for s in self.sites for d in s.devices], "device id (across sites)")
        if not self.sites:
            raise ValueError("at least one [[sites]] table is needed")
        return self

    def site_defs(self) -> dict[str, SiteDef]:
        return {s.id: s.to_domain() for s in self.sites}


# ------------------------------------------------------------------------ opening hours


def _week(where: str, data: Hours | None) -> WeeklyHours | None:
    if data is None:
        return None
    try:
        return WeeklyHours.from_mapping(data)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _calendar(
    where: str,
    hours: Hours | None,
    seasons: list[SeasonCfg],
    closures: list[ClosureCfg],
    holidays: FinnishHolidays | None,
) -> OpeningHours | None:
    """A WeeklyHours, or an OpeningCalendar when there are seasons, closures or
    holidays; None when nothing is given."""
    week = _week(f"{where}: hours", hours)
    if not seasons and not closures and holidays is None:
        return week
    built_seasons = []
    for i, sc in enumerate(seasons, 1):
        what = f"{where}: season {sc.name!r}" if sc.name else f"{where}: season {i}"
        try:
            first, last = parse_day(sc.from_), parse_day(sc.to)
            built_seasons.append(Season(sc.name, WeeklyHours.from_mapping(sc.hours), first, last))
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None
    special = []
    for i, cc in enumerate(closures, 1):
        what = f"{where}: closure {i}"
        try:
            if cc.on is not None and (cc.from_ is not None or cc.to is not None):
                raise ValueError("give `date`, or `from` and `to`, not both")
            if cc.on is not None:
                first = last = _full_date(cc.on)
            elif cc.from_ is not None and cc.to is not None:
                first, last = _full_date(cc.from_), _full_date(cc.to)
            else:
                raise ValueError("needs `date`, or `from` and `to`")
            what = f"{where}: closure {first.isoformat()}"
            intervals = parse_intervals(cc.hours) if cc.hours is not None else ()
            reason = cc.reason.model_dump() if cc.reason else None
            special.append(SpecialHours(first, last, intervals, reason))
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None
    return OpeningCalendar(
        week or WeeklyHours.always(), tuple(built_seasons), tuple(special), holidays
    )


def _full_date(value: str | date) -> date:
    got = parse_day(value)
    if not isinstance(got, date):
        raise ValueError(f"{value!r} is not a full date like '2026-12-24'")
    return got


@dataclass(frozen=True)
class FinnishHolidays:
    """The holiday lookup of a site's OpeningCalendar: Finnish public holidays from the
    `holidays` package (FI), names in fi, sv and en, computed per year on first use.

    Christmas Eve and Midsummer Eve are not public holidays by law, but service points
    are closed then; `holidays` lists both for FI, and they are added if a version does
    not. (Easter Sunday and Pentecost are Sundays anyway.)
    """

    def __call__(self, day: date) -> FrozenMap[str, str] | None:
        return _finnish_holidays(day.year).get(day)


FINNISH_HOLIDAYS = FinnishHolidays()


@functools.cache
def _finnish_holidays(year: int) -> dict[date, FrozenMap[str, str]]:
    import holidays

    tables = {
        lang: holidays.country_holidays("FI", years=year, language=code)
        for lang, code in (("fi", "fi"), ("sv", "sv_FI"), ("en", "en_US"))
    }
    out = {
        day: FrozenMap({lang: str(t.get(day, tables["en"][day])) for lang, t in tables.items()})
        for day in tables["en"]
    }
    midsummer_eve = date(year, 6, 19) + timedelta(days=(4 - date(year, 6, 19).weekday()) % 7)
    eves = {
        date(year, 12, 24): {"fi": "Jouluaatto", "sv": "Julafton", "en": "Christmas Eve"},
        midsummer_eve: {"fi": "Juhannusaatto", "sv": "Midsommarafton", "en": "Midsummer Eve"},
    }
    for day, names in eves.items():
        out.setdefault(day, FrozenMap(names))
    return out


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} {v!r} appears twice")
        seen.add(v)


def load_config(path: str | Path) -> SchedulerConfig:
    return cfg.load(SchedulerConfig, path)


DEMO_SITE = Path(__file__).parent / "sites" / "demo.toml"
