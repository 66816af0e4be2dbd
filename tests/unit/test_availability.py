"""Free slots (scheduler/booking/availability.py): properties against a brute-force
oracle, DST change days in Europe/Helsinki, and examples."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import product
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.booking.availability import (
    AvailabilityIndex,
    days_with_free_time,
    free_slots,
    is_free,
    month_range,
)
from scheduler.booking.model import (
    AdvisorDef,
    BookableService,
    BookingRules,
    Interval,
    ResourceDef,
    Shift,
    Slot,
)

TZ = ZoneInfo("Europe/Helsinki")
SPRING = date(2026, 3, 29)  # 03:00 EET -> 04:00 EEST
AUTUMN = date(2026, 10, 25)  # 04:00 EEST -> 03:00 EET
ALL_WEEK = tuple(Shift(wd, time(8), time(16)) for wd in range(7))


def local(d: date, h: int, m: int = 0, fold: int = 0) -> datetime:
    return datetime.combine(d, time(h, m), tzinfo=TZ).replace(fold=fold)


def hours_8_16(day: date) -> list[tuple[time, time]]:
    return [(time(8), time(16))]


def always(day: date) -> list[tuple[time, time]]:
    return [(time(0), time.max)]


def advisor(aid: str, skills: Sequence[str] = ("s",), shifts: tuple[Shift, ...] = ALL_WEEK):
    return AdvisorDef(id=aid, name=aid, skills=frozenset(skills), shifts=shifts)


# ---------------------------------------------------------------------- the oracle


def _t(minute: int) -> time:
    return time.max if minute >= 1440 else time(minute // 60, minute % 60)


def _minutes(t: time) -> int:
    return 1440 if t == time.max else t.hour * 60 + t.minute


def _exists(naive: datetime) -> bool:
    aware = naive.replace(tzinfo=TZ)
    back = datetime.fromtimestamp(aware.timestamp(), TZ).replace(tzinfo=None)
    return back == naive.replace(fold=0)


def _wall_to_utc(d: date, minute: int, fold: int) -> int:
    """Seconds; a time that does not exist -> the first existing minute after it."""
    naive = datetime.combine(d, time()) + timedelta(minutes=minute)
    while not _exists(naive):
        naive += timedelta(minutes=1)
        fold = 0
    return int(naive.replace(tzinfo=TZ, fold=fold).timestamp())


def _runs(minutes: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for m in sorted(minutes):
        if out and out[-1][1] == m:
            out[-1] = (out[-1][0], m + 1)
        else:
            out.append((m, m + 1))
    return out


def _covered(intervals: Sequence[tuple[time, time]]) -> set[int]:
    return {m for a, b in intervals for m in range(_minutes(a), _minutes(b))}


def _windows(d: date, shifts: Sequence[Shift], hours: Sequence[tuple[time, time]] | None):
    shift_min = _covered([(s.start, s.end) for s in shifts if s.applies(d)])
    if hours is not None:
        shift_min &= _covered(hours)
    return [(a, _wall_to_utc(d, a, 0), _wall_to_utc(d, b, 1)) for a, b in _runs(shift_min)]


def _overlaps(busy: Sequence[Interval], s: int, e: int) -> bool:
    return any(a.timestamp() < e and s < b.timestamp() for a, b in busy)


def oracle(
    service: BookableService,
    advisors: Sequence[AdvisorDef],
    resources: Sequence[ResourceDef],
    busy: dict[str, list[Interval]],
    hours,
    rules: BookingRules,
    now: datetime,
    chosen: str | None = None,
    start_from: datetime | None = None,
) -> list[Slot]:
    earliest = now + timedelta(minutes=rules.min_notice_min)
    if start_from is not None:
        earliest = max(earliest, start_from)
    today = now.astimezone(TZ).date()
    end_day = today + timedelta(days=rules.horizon_days)
    horizon = datetime.combine(end_day, time(), tzinfo=TZ).timestamp()
    dur = service.duration_min * 60
    needs = [
        [n] if any(r.id == n for r in resources) else sorted(r.id for r in resources if r.kind == n)
        for n in service.needs
    ]
    found: list[Slot] = []
    for i in range(rules.horizon_days):
        d = today + timedelta(days=i)
        for adv in advisors:
            if service.id not in adv.skills or (chosen is not None and adv.id != chosen):
                continue
            if d in adv.off_days:
                continue
            for a, ws, we in _windows(d, adv.shifts, hours(d)):
                starts = set()
                for k in range(-8, 1440 // rules.slot_min + 8):
                    m = a + k * rules.slot_min
                    if not 0 <= m < 1440:
                        continue
                    naive = datetime.combine(d, time()) + timedelta(minutes=m)
                    if not _exists(naive):
                        continue
                    for fold in (0, 1):
                        u = int(naive.replace(tzinfo=TZ, fold=fold).timestamp())
                        if ws <= u and u + dur <= we:
                            starts.add(u)
                for u in sorted(starts):
                    if u < earliest.timestamp() or u >= horizon:
                        continue
                    if _overlaps(busy.get(adv.id, []), u, u + dur):
                        continue
                    picked = None
                    for combo in product(*needs):
                        if len(set(combo)) == len(combo) and all(
                            _res_ok(r, d, u, u + dur, resources, busy) for r in combo
                        ):
                            picked = combo
                            break
                    if picked is None:
                        continue
                    found.append(
                        Slot(
                            start=datetime.fromtimestamp(u, UTC),
                            end=datetime.fromtimestamp(u + dur, UTC),
                            advisor=adv.id,
                            resources=tuple(picked),
                        )
                    )
    return sorted(found, key=lambda s: (s.start, s.advisor))


def _res_ok(rid, d, s, e, resources, busy) -> bool:
    res = next(r for r in resources if r.id == rid)
    if res.shifts and not any(ws <= s and e <= we for _a, ws, we in _windows(d, res.shifts, None)):
        return False
    return not _overlaps(busy.get(rid, []), s, e)


# ---------------------------------------------------------------------- strategies

BASES = [date(2026, 3, 27), date(2026, 10, 23), date(2026, 6, 10), date(2026, 12, 4)]


@st.composite
def intervals_of_day(draw, max_n: int = 2) -> list[tuple[time, time]]:
    out = []
    for _ in range(draw(st.integers(0, max_n))):
        a = draw(st.integers(0, 95)) * 15
        b = draw(st.integers(a // 15 + 1, 96)) * 15
        out.append((_t(a), _t(b)))
    return out


def day_hours() -> st.SearchStrategy[list[tuple[time, time]]]:
    """Often a whole day or office hours (so that there are slots), else random."""
    return st.one_of(
        st.just([(time(0), time.max)]),
        st.just([(time(8), time(16))]),
        st.just([(time(1), time(12)), (time(12, 30), time(20))]),
        intervals_of_day(),
    )


@st.composite
def shifts_st(draw, allow_none: bool = False) -> tuple[Shift, ...]:
    if allow_none and draw(st.booleans()):
        return ()
    out = []
    for wd in range(7):
        for a, b in draw(day_hours()):
            out.append(Shift(wd, a, b))
    return tuple(out)


@st.composite
def scenario(draw):
    base = draw(st.sampled_from(BASES))
    now = local(base, 0) + timedelta(minutes=draw(st.integers(0, 48 * 60)))
    rules = BookingRules(
        slot_min=draw(st.sampled_from([10, 15, 20, 30])),
        horizon_days=draw(st.integers(1, 4)),
        min_notice_min=draw(st.sampled_from([0, 45, 120, 1440])),
    )
    service = BookableService(
        id="s",
        duration_min=draw(st.sampled_from([10, 15, 30, 45, 60, 90])),
        needs=draw(
            st.sampled_from(
                [(), ("room",), ("interpreter",), ("room", "interpreter"), ("room",) * 2]
            )
        ),
    )
    days = [base + timedelta(days=i) for i in range(7)]
    advisors = []
    for i in range(draw(st.integers(1, 4))):
        skills = draw(st.sampled_from([("s",), ("s", "t"), ("t",)]))
        off = frozenset(draw(st.sets(st.sampled_from(days), max_size=1)))
        advisors.append(
            AdvisorDef(
                id=f"a{i}",
                name="",
                skills=frozenset(skills),
                shifts=draw(shifts_st()),
                off_days=off,
            )
        )
    resources = [
        ResourceDef(id=f"room-{i}", kind="room", name="", shifts=draw(shifts_st(allow_none=True)))
        for i in range(draw(st.integers(0, 3)))
    ] + [
        ResourceDef(id=f"int-{i}", kind="interpreter", name="", shifts=draw(shifts_st(True)))
        for i in range(draw(st.integers(0, 2)))
    ]
    busy: dict[str, list[Interval]] = {}
    for key in [a.id for a in advisors] + [r.id for r in resources]:
        lst = []
        for _ in range(draw(st.integers(0, 8))):
            start = local(base, 0) + timedelta(minutes=draw(st.integers(0, 6 * 1440)))
            end = start + timedelta(minutes=draw(st.integers(1, 240)))
            if draw(st.booleans()):
                start, end = start.astimezone(UTC), end.astimezone(UTC)
            lst.append((start, end))
        busy[key] = lst
    weekly = [draw(day_hours()) for _ in range(7)]
    closed = frozenset(draw(st.sets(st.sampled_from(days), max_size=2)))

    def hours(day: date) -> list[tuple[time, time]]:
        return [] if day in closed else weekly[day.weekday()]

    return {
        "service": service,
        "advisors": advisors,
        "resources": resources,
        "busy": busy,
        "hours": hours,
        "closed": closed,
        "rules": rules,
        "now": now,
    }


def make_index(sc) -> AvailabilityIndex:
    return AvailabilityIndex(
        advisors=sc["advisors"],
        resources=sc["resources"],
        busy=sc["busy"],
        open_intervals=sc["hours"],
        tz=TZ,
        rules=sc["rules"],
    )


PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------- properties


@PROPS
@given(scenario())
def test_search_equals_the_brute_force_oracle(sc) -> None:
    index = make_index(sc)
    got = index.search(sc["service"], now=sc["now"], limit=10_000)
    want = oracle(
        sc["service"],
        sc["advisors"],
        sc["resources"],
        sc["busy"],
        sc["hours"],
        sc["rules"],
        sc["now"],
    )
    assert got == want
    assert got[:5] == index.search(sc["service"], now=sc["now"], limit=5)


@PROPS
@given(scenario())
def test_slots_keep_every_rule(sc) -> None:
    index = make_index(sc)
    service, rules, now = sc["service"], sc["rules"], sc["now"]
    slots = index.search(service, now=now, limit=10_000)
    keys = [(s.start, s.advisor) for s in slots]
    assert keys == sorted(set(keys)), "sorted and unique"
    today = now.astimezone(TZ).date()
    horizon = datetime.combine(today + timedelta(days=rules.horizon_days), time(), tzinfo=TZ)
    advs = {a.id: a for a in sc["advisors"]}
    res = {r.id: r for r in sc["resources"]}
    for s in slots:
        assert s.start.tzinfo is not None and s.start.utcoffset() == timedelta(0)
        assert s.end - s.start == timedelta(minutes=service.duration_min)  # real minutes
        assert now + timedelta(minutes=rules.min_notice_min) <= s.start < horizon
        ls, le = s.start.astimezone(TZ), s.end.astimezone(TZ)
        day = ls.date()
        assert day not in sc["closed"], "a closed day has no slots"
        adv = advs[s.advisor]
        assert service.id in adv.skills and day not in adv.off_days
        # inside opening hours and shifts, in real time (the wall clock may jump)
        in_hours = [
            (a, b)
            for _m, a, b in _windows(day, adv.shifts, sc["hours"](day))
            if a <= s.start.timestamp() and s.end.timestamp() <= b
        ]
        assert in_hours, (ls, le)
        for key in (s.advisor, *s.resources):
            assert not _overlaps(sc["busy"][key], s.start.timestamp(), s.end.timestamp())
        assert len(s.resources) == len(service.needs) == len(set(s.resources))
        for need, rid in zip(service.needs, s.resources, strict=True):
            assert res[rid].kind == need
        assert index.is_free(s, service, now=now)


@PROPS
@given(scenario(), st.data())
def test_a_chosen_advisor_and_start_from(sc, data) -> None:
    index = make_index(sc)
    chosen = data.draw(st.sampled_from([a.id for a in sc["advisors"]] + ["nobody"]))
    start_from = sc["now"] + timedelta(minutes=data.draw(st.integers(0, 4 * 1440)))
    got = index.search(
        sc["service"], now=sc["now"], advisor=chosen, start_from=start_from, limit=10_000
    )
    assert all(s.advisor == chosen and s.start >= start_from for s in got)
    want = oracle(
        sc["service"],
        sc["advisors"],
        sc["resources"],
        sc["busy"],
        sc["hours"],
        sc["rules"],
        sc["now"],
        chosen=chosen,
        start_from=start_from,
    )
    assert got == want


@PROPS
@given(scenario(), st.data())
def test_busy_updates_match_a_fresh_index(sc, data) -> None:
    index = make_index(sc)
    service, now = sc["service"], sc["now"]
    slots = index.search(service, now=now, limit=50)
    if not slots:
        return
    picked = data.draw(st.sampled_from(slots))
    index.add_busy(picked.advisor, (picked.start, picked.end))
    for rid in picked.resources:
        index.add_busy(rid, (picked.start, picked.end))
    assert not index.is_free(picked, service, now=now)
    after = index.search(service, now=now, limit=50)
    assert all(
        s.advisor != picked.advisor or s.end <= picked.start or s.start >= picked.end for s in after
    )
    busy2 = {k: list(v) for k, v in sc["busy"].items()}
    busy2[picked.advisor].append((picked.start, picked.end))
    for rid in picked.resources:
        busy2[rid].append((picked.start, picked.end))
    fresh = make_index({**sc, "busy": busy2})
    assert after == fresh.search(service, now=now, limit=50)
    # and cancelling it gives the slot back
    assert index.remove_busy(picked.advisor, (picked.start, picked.end))
    for rid in picked.resources:
        assert index.remove_busy(rid, (picked.start, picked.end))
    assert index.is_free(picked, service, now=now)
    assert index.search(service, now=now, limit=50) == slots
    assert not index.remove_busy(picked.advisor, (picked.start, picked.end))


@PROPS
@given(scenario())
def test_days_with_free_time_are_the_days_of_the_slots(sc) -> None:
    index = make_index(sc)
    now = sc["now"]
    first = now.astimezone(TZ).date() - timedelta(days=1)
    last = first + timedelta(days=31)
    days = index.days_with_free_time(sc["service"], first, last, now=now)
    slots = index.search(sc["service"], now=now, limit=10_000)
    assert days == sorted({s.start.astimezone(TZ).date() for s in slots})


@settings(max_examples=60, deadline=None)
@given(
    day=st.sampled_from([SPRING, AUTUMN]),
    slot_min=st.sampled_from([5, 10, 15, 20, 30, 60]),
    duration=st.integers(5, 180),
    start_h=st.integers(0, 5),
    end_h=st.integers(3, 24),
)
def test_dst_change_days(day, slot_min, duration, start_h, end_h) -> None:
    """Around the change: starts on the local grid, exact real duration, inside the
    window's real-time span, each wall-clock grid time that exists taken once per
    occurrence."""
    if end_h <= start_h:
        end_h = start_h + 1
    a, b = time(start_h), time.max if end_h == 24 else time(end_h)
    index = AvailabilityIndex(
        advisors=[advisor("a", shifts=(Shift(day.weekday(), time(0), time.max),))],
        open_intervals=lambda d: [(a, b)],
        tz=TZ,
        rules=BookingRules(slot_min=slot_min, min_notice_min=0, horizon_days=1),
    )
    service = BookableService("s", duration)
    slots = index.search(service, now=local(day, 0), limit=10_000)
    ws = _wall_to_utc(day, start_h * 60, 0)
    we = _wall_to_utc(day, end_h * 60, 1)
    for s in slots:
        ls = s.start.astimezone(TZ)
        assert ls.date() == day
        assert (ls.hour * 60 + ls.minute - start_h * 60) % slot_min == 0
        assert s.end - s.start == timedelta(minutes=duration)
        assert ws <= s.start.timestamp() and s.end.timestamp() <= we
    # count: every existing grid time with room for the slot, per occurrence
    n = 0
    for m in range(start_h * 60, 1440, slot_min):
        naive = datetime.combine(day, time()) + timedelta(minutes=m)
        if _exists(naive):
            for u in {naive.replace(tzinfo=TZ, fold=f).timestamp() for f in (0, 1)}:
                n += ws <= u and u + duration * 60 <= we
    assert len(slots) == n


# ---------------------------------------------------------------------- examples

MON = date(2026, 6, 8)  # a Monday, no DST change near


def test_a_plain_day() -> None:
    busy = {"a": [(local(MON, 9), local(MON, 10)), (local(MON, 9, 30), local(MON, 10, 20))]}
    slots = free_slots(
        BookableService("s", 30),
        advisors=[advisor("a")],
        resources=[],
        busy=busy,
        open_intervals=hours_8_16,
        tz=TZ,
        rules=BookingRules(slot_min=15, min_notice_min=0),
        now=local(MON, 7),
        limit=6,
    )
    starts = [s.start.astimezone(TZ).strftime("%H:%M") for s in slots]
    # 8:45-9:15 overlaps 9:00; 10:15 overlaps the second booking until 10:20
    assert starts == ["08:00", "08:15", "08:30", "10:30", "10:45", "11:00"]
    assert slots[0].start == datetime(2026, 6, 8, 5, 0, tzinfo=UTC)
    assert slots[0].end == datetime(2026, 6, 8, 5, 30, tzinfo=UTC)


def test_longer_than_the_grid_and_windows_split_by_hours() -> None:
    def hours(d: date) -> list[tuple[time, time]]:
        return [(time(8), time(11, 50)), (time(12, 30), time(16))]

    index = AvailabilityIndex(
        advisors=[advisor("a", shifts=(Shift(0, time(7), time(12)), Shift(0, time(12), time(15))))],
        open_intervals=hours,
        tz=TZ,
        rules=BookingRules(slot_min=15, min_notice_min=0, horizon_days=1),
    )
    slots = index.search(BookableService("s", 60), now=local(MON, 0), limit=100)
    starts = [s.start.astimezone(TZ).strftime("%H:%M") for s in slots]
    # touching shifts 7-12 and 12-15 make one period; the grid starts at each window
    assert starts == [
        *("08:00", "08:15", "08:30", "08:45", "09:00", "09:15", "09:30", "09:45", "10:00"),
        *("10:15", "10:30", "10:45", "12:30", "12:45", "13:00", "13:15", "13:30", "13:45"),
        "14:00",
    ]


def test_ties_by_advisor_and_chosen_advisor() -> None:
    advs = [advisor("b"), advisor("a"), advisor("c", skills=("other",))]
    index = AvailabilityIndex(
        advisors=advs,
        open_intervals=hours_8_16,
        tz=TZ,
        rules=BookingRules(min_notice_min=0),
    )
    svc = BookableService("s", 30)
    slots = index.search(svc, now=local(MON, 7), limit=4)
    assert [(s.start.astimezone(TZ).hour, s.start.minute, s.advisor) for s in slots] == [
        (8, 0, "a"),
        (8, 0, "b"),
        (8, 15, "a"),
        (8, 15, "b"),
    ]
    assert {s.advisor for s in index.search(svc, now=local(MON, 7), advisor="b")} == {"b"}
    assert index.search(svc, now=local(MON, 7), advisor="c") == []  # lacks the skill
    assert index.search(svc, now=local(MON, 7), advisor="nobody") == []


def test_min_notice_and_horizon() -> None:
    index = AvailabilityIndex(
        advisors=[advisor("a")],
        open_intervals=hours_8_16,
        tz=TZ,
        rules=BookingRules(min_notice_min=120, horizon_days=2),
    )
    svc = BookableService("s", 30)
    slots = index.search(svc, now=local(MON, 9, 10), limit=1000)
    assert slots[0].start == local(MON, 11, 15)
    assert slots[-1].start == local(MON + timedelta(days=1), 15, 30)
    with pytest.raises(ValueError):
        index.search(svc, now=datetime(2026, 6, 8, 9))  # naive


def test_resources_are_picked_by_id_with_backtracking() -> None:
    rooms = [
        ResourceDef("room-2", "room", "2"),
        ResourceDef("room-1", "room", "1"),
        ResourceDef("int-1", "interpreter", "i", shifts=(Shift(0, time(10), time(12)),)),
    ]
    busy = {"room-1": [(local(MON, 8), local(MON, 9))]}
    index = AvailabilityIndex(
        advisors=[advisor("a")],
        resources=rooms,
        busy=busy,
        open_intervals=hours_8_16,
        tz=TZ,
        rules=BookingRules(min_notice_min=0, horizon_days=1),
    )
    now = local(MON, 0)
    s = index.search(BookableService("s", 30, needs=("room",)), now=now, limit=5)
    assert [x.resources for x in s[:5]] == [("room-2",)] * 4 + [("room-1",)]
    # a kind before a specific id: room-1 must go to the specific need
    s = index.search(BookableService("s", 30, needs=("room", "room-1")), now=now, limit=1)
    assert s[0].start == local(MON, 9) and s[0].resources == ("room-2", "room-1")
    # the interpreter works 10-12 only
    s = index.search(BookableService("s", 60, needs=("interpreter",)), now=now, limit=100)
    assert [x.start.astimezone(TZ).strftime("%H:%M") for x in s] == [
        "10:00",
        "10:15",
        "10:30",
        "10:45",
        "11:00",
    ]
    # nobody to fill a need: no slots
    assert index.search(BookableService("s", 30, needs=("remote",)), now=now) == []
    assert index.search(BookableService("s", 30, remote=True), now=now) == []
    index2 = AvailabilityIndex(
        advisors=[advisor("a")],
        resources=[ResourceDef("video-1", "remote", "v")],
        open_intervals=hours_8_16,
        tz=TZ,
        rules=BookingRules(min_notice_min=0, horizon_days=1),
    )
    s = index2.search(BookableService("s", 30, remote=True), now=now, limit=1)
    assert s[0].resources == ("video-1",)


def test_dst_examples() -> None:
    adv = [advisor("a", shifts=tuple(Shift(wd, time(0), time.max) for wd in range(7)))]
    rules = BookingRules(slot_min=30, min_notice_min=0, horizon_days=1)
    svc = BookableService("s", 60)

    def hours(d: date) -> list[tuple[time, time]]:
        return [(time(2), time(5))]

    spring = free_slots(
        svc, advisors=adv, resources=[], busy={}, open_intervals=hours, tz=TZ, rules=rules,
        now=local(SPRING, 0),
    )  # fmt: skip
    # 2:00-5:00 local is two real hours: 2:00, 2:30 EET, (3:00-3:59 do not exist), 4:00
    assert [s.start.astimezone(TZ).isoformat() for s in spring] == [
        "2026-03-29T02:00:00+02:00",
        "2026-03-29T02:30:00+02:00",
        "2026-03-29T04:00:00+03:00",
    ]
    assert spring[1].end.astimezone(TZ).isoformat() == "2026-03-29T04:30:00+03:00"
    autumn = free_slots(
        svc, advisors=adv, resources=[], busy={}, open_intervals=hours, tz=TZ, rules=rules,
        now=local(AUTUMN, 0),
    )  # fmt: skip
    # 2:00-5:00 local is four real hours; 3:00 and 3:30 come twice
    assert [s.start.astimezone(TZ).isoformat() for s in autumn] == [
        "2026-10-25T02:00:00+03:00",
        "2026-10-25T02:30:00+03:00",
        "2026-10-25T03:00:00+03:00",
        "2026-10-25T03:30:00+03:00",
        "2026-10-25T03:00:00+02:00",
        "2026-10-25T03:30:00+02:00",
        "2026-10-25T04:00:00+02:00",
    ]
    assert all(s.end - s.start == timedelta(hours=1) for s in autumn)


def test_holidays_and_off_days() -> None:
    holiday = MON + timedelta(days=1)

    def hours(d: date) -> list[tuple[time, time]]:
        return [] if d == holiday else [(time(8), time(16))]

    adv = [
        advisor("a"),
        AdvisorDef("b", "b", frozenset({"s"}), ALL_WEEK, off_days=frozenset({MON})),
    ]
    index = AvailabilityIndex(
        advisors=adv, open_intervals=hours, tz=TZ, rules=BookingRules(min_notice_min=0)
    )
    svc = BookableService("s", 30)
    days = index.days_with_free_time(svc, *month_range(2026, 6), now=local(MON, 0))
    assert MON in days and holiday not in days
    assert days[0] == MON and days[-1] == date(2026, 6, 30)
    assert {s.advisor for s in index.search(svc, now=local(MON, 0), limit=32)} == {"a"}
    assert days_with_free_time(
        svc, MON, MON, advisors=adv, resources=[], busy={}, open_intervals=hours, tz=TZ,
        rules=BookingRules(min_notice_min=0), now=local(MON, 0), advisor="b",
    ) == []  # fmt: skip


def test_is_free_rejects_what_search_would_not_give() -> None:
    svc = BookableService("s", 30)
    kw = {
        "advisors": [advisor("a")],
        "resources": [],
        "busy": {"a": [(local(MON, 10), local(MON, 11))]},
        "open_intervals": hours_8_16,
        "tz": TZ,
        "rules": BookingRules(min_notice_min=60),
    }
    now = local(MON, 7)

    def slot(h: int, m: int, dur: int = 30, adv: str = "a") -> Slot:
        start = local(MON, h, m).astimezone(UTC)
        return Slot(start, start + timedelta(minutes=dur), adv)

    assert is_free(slot(8, 0), svc, now=now, **kw)
    assert not is_free(slot(8, 10), svc, now=now, **kw)  # off the grid
    assert not is_free(slot(8, 0, 45), svc, now=now, **kw)  # wrong duration
    assert not is_free(slot(9, 45), svc, now=now, **kw)  # overlaps 10-11
    assert not is_free(slot(15, 45), svc, now=now, **kw)  # past closing
    assert not is_free(slot(8, 0, adv="x"), svc, now=now, **kw)
    assert not is_free(slot(8, 0), svc, now=local(MON, 7, 30), **kw)  # min notice
    assert is_free(slot(8, 0), svc, **kw)  # no `now`: rules not checked
    room = Slot(slot(8, 0).start, slot(8, 0).end, "a", ("room-1",))
    assert not is_free(room, svc, now=now, **kw)  # a resource the service does not need


def test_busy_of_merges_and_set_busy_replaces() -> None:
    index = AvailabilityIndex(
        advisors=[advisor("a")], open_intervals=always, tz=TZ, rules=BookingRules()
    )
    index.add_busy("a", (local(MON, 10), local(MON, 11)))
    index.add_busy("a", (local(MON, 9), local(MON, 10)))
    index.add_busy("a", (local(MON, 12), local(MON, 13)))
    index.add_busy("a", (local(MON, 10, 30), local(MON, 12, 30)))
    assert index.busy_of("a") == [(local(MON, 9), local(MON, 13))]
    assert index.remove_busy("a", (local(MON, 10, 30), local(MON, 12, 30)))
    assert index.busy_of("a") == [(local(MON, 9), local(MON, 11)), (local(MON, 12), local(MON, 13))]
    index.set_busy("a", [])
    assert index.busy_of("a") == []


def test_month_range() -> None:
    assert month_range(2026, 2) == (date(2026, 2, 1), date(2026, 2, 28))
    assert month_range(2026, 12) == (date(2026, 12, 1), date(2026, 12, 31))


def test_many_hours_callables_are_cached_within_bounds() -> None:
    index = AvailabilityIndex(
        advisors=[advisor("a")], open_intervals=always, tz=TZ, rules=BookingRules()
    )
    svc = BookableService("s", 30)
    want = index.search(svc, now=local(MON, 0), open_intervals=hours_8_16, limit=3)
    for i in range(100):

        def hours(d: date, i: int = i) -> list[tuple[time, time]]:
            return [(time(8), time(16))]

        assert index.search(svc, now=local(MON, 0), open_intervals=hours, limit=3) == want
    assert len(index._hours) <= 64 and len(index._windows) <= 64
