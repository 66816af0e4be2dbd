"""Reservations against real databases (SQLite and a private PostgreSQL): holds, bookings,
cancel, reschedule, limits, retention, and booking races that exactly one booker wins."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.booking import codes
from scheduler.booking.errors import DomainError
from scheduler.booking.service import BookingService, Customer
from scheduler.booking.store import ReservationStore
from scheduler.config import DEMO_SITE, load_config
from scheduler.store.db import Store

# A Tuesday morning in Helsinki (UTC+2 in winter).
NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
HETU = "131052-308T"  # a valid identity code (from the Population Register's examples)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def make_service(store: Store, clock: Clock) -> BookingService:
    config = load_config(DEMO_SITE)
    svc = BookingService.from_config(config, ReservationStore(store.engine), clock=clock)
    assert svc is not None
    return svc


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def booking(store: Store, clock: Clock) -> BookingService:
    return make_service(store, clock)


def customer(**kw: object) -> Customer:
    base: dict[str, object] = {"name": "Maija Meikäläinen", "email": "maija@example.fi"}
    base.update(kw)
    return Customer(**base)  # type: ignore[arg-type]


def test_hold_book_cancel_and_the_slot_comes_back(booking: BookingService) -> None:
    assert booking.slots("demo", "kela-benefits", limit=1)[0].start >= NOW + timedelta(
        minutes=30
    )  # the demo's minimum notice
    slots = booking.slots("demo", "kela-benefits", start_from=NOW + timedelta(days=3), limit=5)
    assert slots, "the demo's advisors work around the clock"
    first = slots[0]
    hold = booking.hold("demo", "kela-benefits", first.start, advisor=first.advisor)
    assert hold.status == "held" and hold.hold_until == NOW + timedelta(minutes=10)
    # Held: nobody else is offered that advisor at that time.
    again = booking.slots(
        "demo", "kela-benefits", advisor=first.advisor, start_from=first.start, limit=3
    )
    assert all(s.start != first.start for s in again)

    res = booking.book("demo", customer=customer(hetu=HETU), hold_id=hold.id)
    assert res.status == "booked" and codes.is_valid(res.code)
    stored = booking.store.by_code(res.code)
    assert stored.hetu_hash and HETU not in repr(stored.__dict__)
    assert stored.hetu_hash == booking.hasher.hash(HETU)
    assert [k for k, _ in booking.store.pending_kinds(res.id)] == ["confirmation", "reminder"]

    with pytest.raises(DomainError) as e:
        booking.cancel(res.code, contact="someone.else@example.fi")
    assert e.value.code == "reservation_not_found"
    cancelled = booking.cancel(res.code, contact="MAIJA@example.fi")
    assert cancelled.status == "cancelled"
    assert booking.store.claims_of(res.id) == 0
    back = booking.slots(
        "demo", "kela-benefits", advisor=first.advisor, start_from=first.start, limit=3
    )
    assert back[0].start == first.start
    # Unsent messages went with the booking; a cancellation message was queued.
    assert [k for k, _ in booking.store.pending_kinds(res.id)] == ["cancellation"]


def test_refusals_are_clear_and_change_nothing(booking: BookingService, clock: Clock) -> None:
    start = booking.slots("demo", "kela-benefits", limit=1)[0].start

    def refused(code: str, **kw: object) -> DomainError:
        with pytest.raises(DomainError) as e:
            booking.book("demo", service="kela-benefits", start=start, **kw)  # type: ignore[arg-type]
        assert e.value.code == code
        assert all(e.value.message[lang] for lang in ("fi", "sv", "en"))
        return e.value

    refused("invalid_hetu", customer=customer(hetu="131052-308A"))
    refused("contact_needed", customer=customer(email=None))
    refused("bad_request", customer=customer(email="not-an-address"))
    with pytest.raises(DomainError) as e:
        booking.book("demo", service="city-info", start=start, customer=customer())
    assert e.value.code == "not_bookable"
    with pytest.raises(DomainError) as e:
        booking.book("demo", service="nope", start=start, customer=customer())
    assert e.value.code == "unknown_service"
    # Too soon (minimum notice) and off the grid: not a free slot.
    with pytest.raises(DomainError) as e:
        booking.book(
            "demo", service="kela-benefits", start=NOW + timedelta(minutes=10), customer=customer()
        )
    assert e.value.code == "slot_taken"
    # The notary asks a required question.
    notary = booking.slots("demo", "notary", limit=1)[0]
    with pytest.raises(DomainError) as e:
        booking.book("demo", service="notary", start=notary.start, customer=customer())
    assert e.value.code == "answer_needed" and "Mitä asia koskee" in e.value.message["fi"]
    assert booking.store.find("demo", NOW, NOW + timedelta(days=90)) == []


def test_bookings_per_customer_and_the_cancellation_limit(
    booking: BookingService, clock: Clock
) -> None:
    # A 20-minute service on a 10-minute grid: every other slot is free after a booking.
    slots = booking.slots(
        "demo", "kela-benefits", advisor="aino", limit=8, start_from=NOW + timedelta(days=1)
    )[::2]
    made = [
        booking.book(
            "demo",
            service="kela-benefits",
            start=s.start,
            advisor="aino",
            customer=customer(hetu=HETU, email=f"m{i}@example.fi"),
        )
        for i, s in enumerate(slots[:3])
    ]
    # The demo allows 3 per customer: the same identity code is the same customer.
    with pytest.raises(DomainError) as e:
        booking.book(
            "demo",
            service="kela-benefits",
            start=slots[3].start,
            advisor="aino",
            customer=customer(hetu=HETU, email="other@example.fi"),
        )
    assert e.value.code == "too_many_bookings" and "3" in e.value.message["en"]
    # Within 2 hours of the start (the demo's limit), citizens cannot cancel; staff can.
    clock.at = made[0].start - timedelta(hours=1)
    with pytest.raises(DomainError) as e:
        booking.cancel(made[0].code, contact=HETU)
    assert e.value.code == "cancel_too_late"
    assert booking.cancel(made[0].code, staff=True).status == "cancelled"


def test_reschedule_moves_the_claims(booking: BookingService) -> None:
    a, b = booking.slots(
        "demo", "kela-benefits", advisor="bertil", limit=2, start_from=NOW + timedelta(days=1)
    )
    res = booking.book(
        "demo",
        service="kela-benefits",
        start=a.start,
        advisor="bertil",
        customer=customer(phone="040 123 4567", email=None),
    )
    assert res.phone == "+358401234567"
    moved = booking.reschedule(res.code, b.start, contact="0401234567")
    assert (moved.code, moved.start, moved.version) == (res.code, b.start, res.version + 1)
    free = booking.slots("demo", "kela-benefits", advisor="bertil", limit=1, start_from=a.start)
    assert free[0].start == a.start


def test_expired_hold_is_released_and_cannot_be_confirmed(
    booking: BookingService, clock: Clock
) -> None:
    s = booking.slots(
        "demo", "kela-benefits", advisor="aino", limit=1, start_from=NOW + timedelta(days=1)
    )[0]
    hold = booking.hold("demo", "kela-benefits", s.start, advisor="aino")
    clock.at = NOW + timedelta(minutes=11)
    # Someone else takes the time: the expired hold's claims give way.
    other = booking.book(
        "demo",
        service="kela-benefits",
        start=s.start,
        advisor="aino",
        customer=customer(email="other@example.fi"),
    )
    assert other.status == "booked"
    with pytest.raises(DomainError) as e:
        booking.book("demo", customer=customer(), hold_id=hold.id)
    assert e.value.code == "hold_expired"


def test_booking_race_exactly_one_wins(store: Store, clock: Clock) -> None:
    """Eight bookers, each with its own service instance (as separate processes would
    have), try the same advisor and time at once: one booking, seven `slot_taken`."""
    services = [make_service(store, clock) for _ in range(8)]
    start = services[0].slots("demo", "kela-benefits", advisor="aino", limit=1)[0].start
    barrier = threading.Barrier(len(services))
    results: list[str] = []
    lock = threading.Lock()

    def book(i: int) -> None:
        barrier.wait()
        try:
            services[i].book(
                "demo",
                service="kela-benefits",
                start=start,
                advisor="aino",
                customer=customer(email=f"racer{i}@example.fi"),
            )
            out = "ok"
        except DomainError as exc:
            out = exc.code
        with lock:
            results.append(out)

    threads = [threading.Thread(target=book, args=(i,)) for i in range(len(services))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["ok"] + ["slot_taken"] * 7
    booked = services[0].store.find("demo", start, start + timedelta(minutes=1))
    assert len(booked) == 1


def test_retention_deletes_personal_data(booking: BookingService, clock: Clock) -> None:
    s = booking.slots("demo", "kela-benefits", limit=1)[0]
    res = booking.book(
        "demo",
        service="kela-benefits",
        start=s.start,
        advisor=s.advisor,
        customer=customer(hetu=HETU, phone="+358401234567"),
    )
    clock.at = res.end + timedelta(days=29)
    booking.housekeeping()
    assert booking.store.get(res.id).name == "Maija Meikäläinen"
    clock.at = res.end + timedelta(days=30, minutes=1)
    booking.housekeeping()
    kept = booking.store.get(res.id)
    assert (kept.name, kept.email, kept.phone, kept.hetu_hash, kept.answers) == (
        None,
        None,
        None,
        None,
        {},
    )
    assert kept.purged_at is not None and kept.service == "kela-benefits"


# ---------------------------------------------------------------------------- the outbox


def test_confirmations_go_out_through_the_outbox_and_survive_an_outage(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """Booking queues a confirmation in the same transaction; housekeeping sends it to a
    real SMTP server. With the server down nothing is lost: it goes out once it is back.
    A partial failure (e-mail sent, SMS refused) retries only the SMS."""
    from aiosmtpd.controller import Controller

    from scheduler.booking.notify import senders_from_config

    class Inbox:
        def __init__(self) -> None:
            self.got: list[bytes] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.got.append(envelope.content)  # type: ignore[attr-defined]
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sms_dir = tmp_path / "sms"
    booking = make_service(store, clock)
    booking.notifier = senders_from_config(
        {
            "email": {
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "from": "vuoro@example.fi",
                "timeout": 2,
            },
            "sms": {"kind": "file", "dir": str(sms_dir)},
        }
    )
    s0 = booking.slots("demo", "kela-benefits", start_from=NOW + timedelta(days=2), limit=1)[0]
    res = booking.book(
        "demo",
        service="kela-benefits",
        start=s0.start,
        advisor=s0.advisor,
        customer=customer(lang="sv", phone="0401234567"),
    )
    # The SMTP server is down: the e-mail fails, the SMS (to a folder) goes out.
    assert booking.send_due(clock.at) == (0, 1)
    assert len(list(sms_dir.iterdir())) == 1
    # Later, with the server up, only the e-mail is sent again.
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        clock.at = NOW + timedelta(minutes=5)
        assert booking.send_due(clock.at) == (1, 0)
    finally:
        controller.stop()
    assert len(list(sms_dir.iterdir())) == 1  # no second SMS
    assert len(inbox.got) == 1
    msg = email.message_from_bytes(inbox.got[0], policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert res.code in text and "FPA:s förmåner" in text
    assert "Ta med identitetsbevis" in text  # the service's instructions, in Swedish
    assert any(p.get_content_type() == "text/calendar" for p in msg.iter_attachments())
    assert booking.send_due(clock.at) == (0, 0)  # sent once: nothing more due


# ---------------------------------------------------------------------------- opening hours

HOURS_SITE = """
[booking]
hetu_key = "test-key-0123456789abcdef"

[[sites]]
id = "kuopio"
name = { fi = "Kuopio", sv = "Kuopio", en = "Kuopio" }
hours = { "mon-fri" = "8:00-16:00" }
holidays = true

[[sites.queues]]
id = "kela"
prefix = "K"
name = { fi = "Kela", sv = "FPA", en = "Kela" }

[[sites.services]]
id = "benefits"
name = { fi = "Etuudet", sv = "Förmåner", en = "Benefits" }
provider = "kela"
queue = "kela"
walk_in_hours = { "mon-fri" = "9:00-11:00" }
appointments = true
appointment_hours = { "mon-fri" = "13:00-16:00" }
booking = { duration_min = 30 }

[[sites.desks]]
id = "1"
queues = ["kela"]

[sites.booking]
rules = { slot_min = 30, min_notice_min = 0 }

[[sites.booking.advisors]]
id = "aino"
name = "Aino"
services = ["benefits"]
desk = "1"
shifts = { "mon-fri" = "8:00-16:00" }
"""


def test_bookable_time_follows_opening_hours_holidays_and_windows(tmp_path: Path) -> None:
    """Real configuration to free slots: appointments only 13-16, none on Christmas
    Eve, Christmas Day or Boxing Day (Finnish holidays), the next on Monday 28.12."""
    from zoneinfo import ZoneInfo

    from scheduler.config import load_config

    hel = ZoneInfo("Europe/Helsinki")
    path = tmp_path / "site.toml"
    path.write_text(HOURS_SITE)
    config = load_config(path)
    db = Store(f"sqlite:///{tmp_path / 'v.db'}")
    db.migrate()
    clock = Clock(datetime(2026, 12, 23, 12, 0, tzinfo=hel).astimezone(UTC))
    booking = BookingService.from_config(config, ReservationStore(db.engine), clock=clock)
    assert booking is not None
    found = booking.slots("kuopio", "benefits", limit=8)
    local = [s.start.astimezone(hel) for s in found]
    assert [(t.day, t.hour, t.minute) for t in local] == [
        (23, 13, 0),
        (23, 13, 30),
        (23, 14, 0),
        (23, 14, 30),
        (23, 15, 0),
        (23, 15, 30),
        (28, 13, 0),
        (28, 13, 30),
    ]
    days = booking.days(
        "kuopio", "benefits", datetime(2026, 12, 1).date(), datetime(2026, 12, 31).date()
    )
    assert [d.day for d in days] == [23, 28, 29, 30, 31]
    db.dispose()


def test_nul_characters_and_huge_texts_are_refused_on_both_databases(
    booking: BookingService,
) -> None:
    """PostgreSQL cannot store NUL in text: refused as bad input, nothing stored."""
    s = booking.slots("demo", "kela-benefits", limit=1)[0]
    for bad in (customer(name="Maija\x00"), customer(answers={"x": "y" * 5000})):
        with pytest.raises(DomainError) as e:
            booking.book(
                "demo", service="kela-benefits", start=s.start, advisor=s.advisor, customer=bad
            )
        assert e.value.code == "bad_request"
    assert booking.store.find("demo", NOW, NOW + timedelta(days=90)) == []
