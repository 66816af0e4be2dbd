"""The booking half's definitions (DOMAIN.md rules 3, 6, 7, 8): pure data, no I/O.

Times: every `datetime` here is aware. Reservation times are stored in UTC; shifts and
opening hours are in the site's local time (`SiteDef.timezone`) and turned into UTC
instants per day by the availability code, so DST change days come out right.

Who uses what:
- `scheduler/booking/availability.py`: `AdvisorDef`, `ResourceDef`, `BookableService`,
  `BookingRules` and busy intervals -> free `Slot`s.
- `scheduler/booking/notify.py`, `ical.py`: `Reservation` + the site and service names.
- `scheduler/booking/service.py`, `scheduler/store/reservations.py`: `Reservation`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Protocol, TypeVar

# A busy or free interval: [start, end), aware datetimes.
Interval = tuple[datetime, datetime]


class _Ordered(Protocol):
    def __lt__(self, other: object, /) -> bool: ...
    def __le__(self, other: object, /) -> bool: ...


T = TypeVar("T", bound=_Ordered)


def merge_intervals(pairs: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """Sorted union of [a, b) intervals (of numbers or datetimes): overlapping and
    touching ones are joined, empty ones dropped."""
    out: list[tuple[T, T]] = []
    for a, b in sorted(pairs):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            if out[-1][1] < b:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


RESOURCE_KINDS = ("interpreter", "room", "remote")

# Reservation statuses. `held`: a slot kept for a citizen filling the form (expires at
# `hold_until`); `booked`; `checked_in` (has a ticket); `done` (served); `noshow`;
# `cancelled`. Only `held`, `booked` and `checked_in` occupy their advisor and resources.
ACTIVE = ("held", "booked", "checked_in")


@dataclass(frozen=True)
class Shift:
    """A weekly working interval of an advisor (local time), optionally only between
    two dates (inclusive), e.g. a summer schedule."""

    weekday: int  # 0 = Monday
    start: time
    end: time
    valid_from: date | None = None
    valid_to: date | None = None

    def applies(self, day: date) -> bool:
        return (
            day.weekday() == self.weekday
            and (self.valid_from is None or day >= self.valid_from)
            and (self.valid_to is None or day <= self.valid_to)
        )


@dataclass(frozen=True)
class AdvisorDef:
    """A bookable person. `skills` are the service ids the advisor serves; `desk` is the
    desk the advisor usually sits at (their checked-in customers are called there first);
    `calendar` an iCalendar file path or http(s) URL of the team calendar whose busy
    time is taken off the shifts."""

    id: str
    name: str
    skills: frozenset[str]
    shifts: tuple[Shift, ...] = ()
    desk: str | None = None
    calendar: str | None = None
    off_days: frozenset[date] = frozenset()  # holidays, sick leave entered by an admin


@dataclass(frozen=True)
class ResourceDef:
    """An extra resource: an interpreter, a room or a remote-service video device, with
    its own weekly availability (`shifts`; none = always available) and calendar."""

    id: str
    kind: str  # one of RESOURCE_KINDS
    name: str
    shifts: tuple[Shift, ...] = ()
    calendar: str | None = None
    languages: frozenset[str] = frozenset()  # for interpreters


@dataclass(frozen=True)
class PreQuestion:
    id: str
    text: dict[str, str]  # fi, sv, en
    required: bool = False
    choices: tuple[str, ...] = ()  # empty: free text


@dataclass(frozen=True)
class BookableService:
    """What booking needs to know of a service (`ServiceDef.appointments` is true)."""

    id: str
    duration_min: int
    # Extra resources needed: each entry is a kind ("room": any room) or a resource id.
    needs: tuple[str, ...] = ()
    pre_questions: tuple[PreQuestion, ...] = ()
    remote: bool = False  # served over video: needs a "remote" resource, no room


@dataclass(frozen=True)
class BookingRules:
    """Per-site booking rules (DOMAIN.md rule 7 and rule 3's check-in window)."""

    slot_min: int = 15  # slot starts fall on this grid from the shift start
    horizon_days: int = 90  # how far ahead one can book
    min_notice_min: int = 120  # earliest bookable start = now + this
    cancel_limit_h: int = 24  # citizens cannot cancel or reschedule later than this
    max_per_customer: int = 2  # active future bookings per identity code / e-mail / phone
    hold_min: int = 10  # how long a held slot waits for the form
    checkin_before_min: int = 30  # check-in opens this long before the slot
    checkin_grace_min: int = 10  # and closes this long after its start
    retention_days: int = 30  # personal data deleted this long after the visit
    reminder_h: int = 24  # reminder sent this long before (0: no reminders)


@dataclass(frozen=True)
class Slot:
    """A bookable time: the advisor and the extra resources picked for it."""

    start: datetime
    end: datetime
    advisor: str
    resources: tuple[str, ...] = ()


@dataclass
class Reservation:
    id: str
    code: str  # booking code, e.g. "7KQ-4MX"
    site: str
    service: str
    advisor: str
    start: datetime
    end: datetime
    status: str = "booked"
    resources: tuple[str, ...] = ()
    lang: str = "fi"
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    hetu_hash: str | None = None  # HMAC of the identity code; never the code
    card_hash: str | None = None  # HMAC of an ID-card identifier
    answers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    created_by: str = "web"  # web, switchboard, desk, admin, demo
    hold_until: datetime | None = None
    ticket_id: str | None = None
    checked_in_at: datetime | None = None
    cancelled_at: datetime | None = None
    reminded_at: datetime | None = None
    purged_at: datetime | None = None  # personal data deleted (retention)
    version: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE
