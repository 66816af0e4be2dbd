"""Weekly opening hours, in the site's local time.

This is the walk-in half: per weekday a list of open intervals, for a site and per
service. Holidays, seasonal hours and one-off exceptions come with reservations (issue 3)
and plug in here as exceptions to `WeeklyHours`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")

_DAY_NAMES = {
    "fi": ("ma", "ti", "ke", "to", "pe", "la", "su"),
    "sv": ("mån", "tis", "ons", "tors", "fre", "lör", "sön"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def parse_interval(text: str) -> tuple[time, time]:
    """'8:00-16:15' -> (08:00, 16:15); '0:00-24:00' is the whole day."""
    m = _INTERVAL_RE.match(text.strip())
    if not m:
        raise ValueError(f"opening interval {text!r} is not like '8:00-16:00'")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"opening interval {text!r} has an impossible time")
    start = time(h1, m1)
    end = time.max if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueError(f"opening interval {text!r} ends before it starts")
    return start, end


@dataclass(frozen=True)
class WeeklyHours:
    """Open intervals per weekday (0 = Monday). `None` days map to closed."""

    days: tuple[tuple[tuple[time, time], ...], ...] = field(
        default_factory=lambda: tuple(((time.min, time.max),) for _ in range(7))
    )

    @classmethod
    def always(cls) -> WeeklyHours:
        return cls()

    @classmethod
    def from_mapping(cls, data: dict[str, list[str] | str]) -> WeeklyHours:
        """{"mon": ["8:00-16:00"], "sat": []} ; "mon-fri" ranges allowed; missing = closed."""
        days: list[list[tuple[time, time]]] = [[] for _ in range(7)]
        for key, value in data.items():
            for day in _expand_days(key):
                intervals = [value] if isinstance(value, str) else list(value)
                days[day] = sorted(parse_interval(x) for x in intervals)
        return cls(tuple(tuple(d) for d in days))

    def is_open(self, local: datetime) -> bool:
        t = local.time()
        return any(a <= t < b for a, b in self.days[local.weekday()])

    def next_opening(self, local: datetime) -> datetime | None:
        """The next moment (after `local`) it opens, within two weeks; None if never."""
        day0 = local.date()
        for offset in range(15):
            d = day0 + timedelta(days=offset)
            for a, _b in self.days[d.weekday()]:
                at = datetime.combine(d, a, tzinfo=local.tzinfo)
                if at > local:
                    return at
        return None


def _expand_days(key: str) -> list[int]:
    key = key.strip().lower()
    if "-" in key:
        a, b = (x.strip() for x in key.split("-", 1))
        if a not in WEEKDAYS or b not in WEEKDAYS:
            raise ValueError(f"unknown weekday range {key!r}; use mon..sun, e.g. mon-fri")
        i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
        return list(range(i, j + 1)) if i <= j else [*range(i, 7), *range(0, j + 1)]
    if key not in WEEKDAYS:
        raise ValueError(f"unknown weekday {key!r}; use mon..sun or a range like mon-fri")
    return [WEEKDAYS.index(key)]


def when_text(at: datetime, today: date) -> dict[str, str]:
    """'klo 8.00' today, 'ti 24.11. klo 8.00' another day; per language."""
    fi_t = f"{at.hour}.{at.minute:02d}"
    en_t = f"{at.hour}:{at.minute:02d}"
    if at.date() == today:
        return {"fi": f"klo {fi_t}", "sv": f"kl. {fi_t}", "en": f"at {en_t}"}
    wd = at.weekday()
    dm = f"{at.day}.{at.month}."
    return {
        "fi": f"{_DAY_NAMES['fi'][wd]} {dm} klo {fi_t}",
        "sv": f"{_DAY_NAMES['sv'][wd]} {dm} kl. {fi_t}",
        "en": f"{_DAY_NAMES['en'][wd]} {at.day} {at.strftime('%b')} at {en_t}",
    }
