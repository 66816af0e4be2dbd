"""Issue 9 item 4: identity codes and names never appear in clear in the logs or in the
database, after a busy day: walk-ins, calls, bookings with names, e-mails and identity
codes, check-ins by identity code at the kiosk (over MQTT), the demo's own bookings.

Scanned: every log record of every logger (DEBUG and up, formatted, with arguments),
every text column of every table, and the raw bytes of the SQLite file, its WAL and its
shared-memory file.
"""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from firmware_common.mqtt import DeviceClient
from scheduler.booking.hetu import check_char
from scheduler.booking.service import Customer
from scheduler.domain.errors import DomainError
from vuoro.demo import Demo


def hetu_for(i: int) -> str:
    day, month, year = 1 + i % 28, 1 + i % 12, 50 + i % 40
    birth = f"{day:02d}{month:02d}{year:02d}"
    serial = f"{200 + i:03d}"
    return f"{birth}-{serial}{check_char(birth, serial)}"


@pytest.fixture
def all_logs() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buf
    root.removeHandler(handler)
    root.setLevel(old)


def test_no_identity_code_or_name_in_clear_after_a_busy_day(
    all_logs: io.StringIO, demo: Demo, connect: Callable[..., DeviceClient]
) -> None:
    assert demo.app is not None and demo.app.booking is not None
    service = demo.app.booking.service
    rng = random.Random(9)
    names = [f"Kerttu{c} Yksityinen{c}" for c in "ABCDEFGHJK"]
    hetus = [hetu_for(i) for i in range(len(names))]
    booked = []
    slots = service.slots("demo", "kela-benefits", limit=40)
    for name, hetu, slot in zip(names, hetus, slots[:: max(1, len(slots) // 10)], strict=False):
        customer = Customer(
            name=name,
            hetu=hetu,
            email=f"{name.split()[0].lower()}@example.invalid",
            phone=f"+35840{len(booked):07d}",
            lang="fi",
        )
        try:
            booked.append(
                service.book(
                    "demo",
                    customer=customer,
                    service="kela-benefits",
                    start=slot.start,
                    advisor=getattr(slot, "advisor", None),
                    created_by="switchboard",
                )
            )
        except DomainError:
            continue
    assert len(booked) >= 5, "bookings with names and identity codes"
    kiosk = connect("kiosk-demo-1")
    desk = connect("desk-demo-1")
    assert desk.request("open", {"desk": "1"})["ok"]
    # The demo's booking due now checks in by identity code; the others are too early,
    # unknown codes are not found: every path that handles an identity code runs.
    demo_hetu = next(b["hetu"] for b in demo.bookings if b.get("hetu"))
    r = kiosk.request("checkin", {"by": "hetu", "value": demo_hetu, "lang": "fi"})
    assert r["ok"], r
    for hetu in [*hetus, hetu_for(77), "010190-1234", "not a hetu"]:
        r = kiosk.request("checkin", {"by": "hetu", "value": hetu, "lang": "fi"})
        assert not r["ok"], r
    for _ in range(40):
        svc = rng.choice(["city-info", "kela-benefits", "tax-card"])
        assert kiosk.request("ticket", {"service": svc, "lang": "fi"})["ok"]
    for _ in range(10):
        desk.request("next", {"desk": "1"})
    for res in booked[:2]:
        service.cancel(res.code, staff=True)

    secrets_ = [*names, *hetus, demo_hetu, hetu_for(77), "010190-1234"]
    secrets_ += [n for n in ("Maija Meikäläinen", "Sven Svensson", "Anna Example")]
    # The logs
    log_text = all_logs.getvalue()
    assert len(log_text) > 1000
    in_logs = [s for s in secrets_ if s in log_text]
    # Every text column of every table
    engine = demo.app.store.engine
    meta = sa.MetaData()
    meta.reflect(engine)
    in_columns = []
    with engine.connect() as conn:
        for table in meta.tables.values():
            for row in conn.execute(sa.select(table)):
                text = " ".join(str(v) for v in row)
                in_columns += [f"{table.name}: {s}" for s in secrets_ if s in text]
    # The raw bytes of the database, its WAL and shared memory
    db_file = Path(demo.config.scheduler.database.removeprefix("sqlite:///"))
    in_bytes = []
    for f in (
        db_file,
        db_file.with_name(db_file.name + "-wal"),
        db_file.with_name(db_file.name + "-shm"),
    ):
        if f.exists():
            raw = f.read_bytes()
            for s in secrets_:
                for enc in (s.encode("utf-8"), s.encode("utf-16-le")):
                    if enc in raw:
                        in_bytes.append(f"{f.name}: {s}")
    assert (in_logs, sorted(set(in_columns)), sorted(set(in_bytes))) == ([], [], [])
    # Stored encrypted, the names still read back where staff need them.
    again = service.store.get(booked[-1].id)
    assert again.name == booked[-1].name and again.name in names
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT name FROM reservations WHERE id = :i"), {"i": booked[-1].id}
        ).scalar_one()
    assert stored.startswith("enc1:") and booked[-1].name not in stored
