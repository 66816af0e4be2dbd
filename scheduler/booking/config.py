"""Booking configuration: the `[booking]` table (secrets, web address, notifications), each
site's `[sites.booking]` (rules, advisors, extra resources) and each service's
`[sites.services.booking]` (duration, needed resources, pre-questions).

Documented in docs/configuration.md ("Booking"). Everything is checked on load with
errors that name the site, advisor or service and the bad value.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from firmware_common import config as cfg
from scheduler.booking.model import (
    RESOURCE_KINDS,
    AdvisorDef,
    BookableService,
    BookingRules,
    PreQuestion,
    ResourceDef,
    Shift,
)
from scheduler.domain.hours import WeeklyHours

Ident = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
HoursMap = dict[str, list[str] | str]

# Slot claims are kept in 5-minute cells: every bookable time is on this grid.
CELL_MIN = 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextCfg(_Strict):
    fi: str
    sv: str
    en: str


def shifts_from(
    hours: HoursMap | None, *, valid_from: date | None, valid_to: date | None, where: str
) -> tuple[Shift, ...]:
    """{"mon-fri": "8:00-16:00"} -> Shift per weekday and interval (on the 5-minute grid)."""
    if not hours:
        return ()
    try:
        week = WeeklyHours.from_mapping(hours)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    out: list[Shift] = []
    for wd, intervals in enumerate(week.days):
        for a, b in intervals:
            for t in (a, b):
                is_midnight = t.hour == 23 and t.minute == 59  # "24:00"
                if (t.minute % CELL_MIN or t.second) and not is_midnight:
                    raise ValueError(
                        f"{where}: shift times must be on the {CELL_MIN}-minute grid "
                        f"(got {t.strftime('%H:%M')})"
                    )
            out.append(Shift(wd, a, b, valid_from, valid_to))
    return tuple(out)


class AdvisorCfg(_Strict):
    id: Ident
    name: str
    services: list[Ident]
    desk: str | None = None
    calendar: str | None = None  # iCalendar file path or http(s) URL (team calendar)
    shifts: HoursMap = {}
    valid_from: date | None = None
    valid_to: date | None = None
    off_days: list[date] = []


class ResourceCfg(_Strict):
    id: Ident
    kind: Literal["interpreter", "room", "remote"]
    name: str
    shifts: HoursMap | None = None  # none: always available when the site is open
    calendar: str | None = None
    languages: list[str] = []


class RulesCfg(_Strict):
    slot_min: Annotated[int, Field(ge=5, le=240, multiple_of=CELL_MIN)] = 15
    horizon_days: Annotated[int, Field(ge=1, le=366)] = 90
    min_notice_min: Annotated[int, Field(ge=0, le=60 * 24 * 14)] = 120
    cancel_limit_h: Annotated[int, Field(ge=0, le=24 * 14)] = 24
    max_per_customer: Annotated[int, Field(ge=1, le=50)] = 2
    hold_min: Annotated[int, Field(ge=1, le=60)] = 10
    checkin_before_min: Annotated[int, Field(ge=0, le=240)] = 30
    checkin_grace_min: Annotated[int, Field(ge=0, le=120)] = 10
    retention_days: Annotated[int, Field(ge=0, le=3650)] = 30
    reminder_h: Annotated[int, Field(ge=0, le=24 * 14)] = 24


class SiteBookingCfg(_Strict):
    """`[sites.booking]`: the site's rules, advisors and extra resources."""

    rules: RulesCfg = RulesCfg()
    address: str | None = None  # shown in confirmations and calendar entries
    advisors: list[AdvisorCfg] = []
    resources: list[ResourceCfg] = []

    @model_validator(mode="after")
    def _check(self) -> SiteBookingCfg:
        ids = [a.id for a in self.advisors] + [r.id for r in self.resources]
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                raise ValueError(f"advisor/resource id {i!r} appears twice")
            seen.add(i)
        for a in self.advisors:
            shifts_from(
                a.shifts, valid_from=a.valid_from, valid_to=a.valid_to, where=f"advisor {a.id!r}"
            )
        for r in self.resources:
            shifts_from(r.shifts, valid_from=None, valid_to=None, where=f"resource {r.id!r}")
        return self

    def rules_def(self) -> BookingRules:
        return BookingRules(**self.rules.model_dump())

    def advisor_defs(self) -> list[AdvisorDef]:
        return [
            AdvisorDef(
                id=a.id,
                name=a.name,
                skills=frozenset(a.services),
                shifts=shifts_from(
                    a.shifts,
                    valid_from=a.valid_from,
                    valid_to=a.valid_to,
                    where=f"advisor {a.id!r}",
                ),
                desk=a.desk,
                calendar=a.calendar,
                off_days=frozenset(a.off_days),
            )
            for a in self.advisors
        ]

    def resource_defs(self) -> list[ResourceDef]:
        return [
            ResourceDef(
                id=r.id,
                kind=r.kind,
                name=r.name,
                shifts=shifts_from(
                    r.shifts, valid_from=None, valid_to=None, where=f"resource {r.id!r}"
                ),
                calendar=r.calendar,
                languages=frozenset(r.languages),
            )
            for r in self.resources
        ]


class PreQuestionCfg(_Strict):
    id: Ident
    text: TextCfg
    required: bool = False
    choices: list[str] = []


class ServiceBookingCfg(_Strict):
    """`[sites.services.booking]`: what booking the service needs."""

    duration_min: Annotated[int, Field(ge=CELL_MIN, le=480, multiple_of=CELL_MIN)] = 30
    needs: list[str] = []  # resource kinds ("room", "interpreter", "remote") or resource ids
    remote: bool = False
    pre_questions: list[PreQuestionCfg] = []

    def to_def(self, service_id: str) -> BookableService:
        return BookableService(
            id=service_id,
            duration_min=self.duration_min,
            needs=tuple(self.needs),
            remote=self.remote,
            pre_questions=tuple(
                PreQuestion(q.id, q.text.model_dump(), q.required, tuple(q.choices))
                for q in self.pre_questions
            ),
        )


def check_site_booking(site: Any) -> None:
    """Cross-checks between a site's services and its booking table (called by SiteCfg)."""
    where = f"site {site.id!r}"
    services = {s.id: s for s in site.services}
    desks = {d.id for d in site.desks}
    booking: SiteBookingCfg | None = site.booking
    resource_ids = {r.id for r in booking.resources} if booking else set()
    for s in site.services:
        if s.appointments and booking is None:
            raise ValueError(
                f"{where}: service {s.id!r} takes appointments but the site has no "
                "[sites.booking] table (advisors and rules)"
            )
        b = s.booking
        if b is None:
            continue
        for need in b.needs:
            if need not in RESOURCE_KINDS and need not in resource_ids:
                raise ValueError(
                    f"{where}: service {s.id!r} needs {need!r}, which is neither a resource "
                    f"kind ({', '.join(RESOURCE_KINDS)}) nor a resource id"
                )
    if booking is None:
        return
    for a in booking.advisors:
        for sid in a.services:
            if sid not in services:
                raise ValueError(f"{where}: advisor {a.id!r} serves unknown service {sid!r}")
        if a.desk is not None and a.desk not in desks:
            raise ValueError(f"{where}: advisor {a.id!r} sits at unknown desk {a.desk!r}")


class ApiKeyCfg(_Strict):
    name: str
    role: Literal["switchboard", "advisor", "admin"]
    key: str | None = None
    key_file: str | None = None

    def secret(self) -> str:
        if self.key is not None:
            raw = self.key
        elif self.key_file:
            try:
                raw = Path(self.key_file).read_text().strip()
            except OSError as exc:
                raise cfg.ConfigError(f"web.api_keys {self.name}: {exc.strerror}") from None
        else:
            raise cfg.ConfigError(f"web.api_keys {self.name}: give key or key_file")
        if len(raw) < 16:
            raise cfg.ConfigError(f"web.api_keys {self.name}: the key must be 16+ characters")
        return raw


class WebCfg(_Strict):
    """The `[web]` table: the HTTP server of the booking API (and, later, the pages)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080  # 0: a free port (tests, demo)
    api_keys: list[ApiKeyCfg] = []

    def keys(self) -> dict[str, str]:
        return {k.secret(): k.role for k in self.api_keys}


class BookingCfg(_Strict):
    """The top-level `[booking]` table."""

    # The key of the identity-code HMAC: at least 16 bytes, kept secret; losing it means
    # check-in by identity code no longer finds existing reservations (codes still work).
    hetu_key: str | None = None
    hetu_key_file: str | None = None
    public_url: str = "http://localhost:8080"  # where citizens manage their bookings
    # E-mail and SMS senders: `[booking.notify.email]`, `[booking.notify.sms]`; see
    # docs/notifications.md. Empty: nothing is sent (the outbox keeps the messages).
    notify: dict[str, Any] = {}

    def key(self) -> bytes:
        if self.hetu_key is not None:
            raw = self.hetu_key
        elif self.hetu_key_file:
            try:
                raw = Path(self.hetu_key_file).read_text().strip()
            except OSError as exc:
                raise cfg.ConfigError(
                    f"booking.hetu_key_file {self.hetu_key_file}: {exc.strerror}"
                ) from None
        else:
            raise cfg.ConfigError(
                "booking.hetu_key (or hetu_key_file) is needed: the secret key of the "
                "identity-code hash, at least 16 characters"
            )
        if len(raw.encode()) < 16:
            raise cfg.ConfigError("booking.hetu_key must be at least 16 characters long")
        return raw.encode()
