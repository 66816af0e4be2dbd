"""Offline mode (issue 4 item 4), the scheduler's side, over a real broker.

A kiosk that gets no answer within 2 s numbers the ticket itself from its range (the
demo kiosk has 901-949), prints it, and sends a durable `ticket` with `offline` and
`supersedes` (the unanswered command's id). Whatever arrives, and in whatever state the
scheduler was: one ticket per customer, with the number the customer holds, in the queue
by its issue time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient
from vuoro.demo import Demo


def ok(reply: dict) -> dict:
    assert reply["ok"], reply
    return reply


def live_numbers(demo: Demo) -> list[str]:
    assert demo.app is not None
    st = demo.app.scheduler.states["demo"]
    return sorted(t.number for t in st.live_tickets())


def test_the_kiosk_config_names_its_range_and_the_scheduler_keeps_out(
    demo: Demo, connect: Callable[..., DeviceClient]
) -> None:
    got: list[dict] = []
    kiosk = connect("kiosk-demo-1")
    kiosk.subscribe(p.Topics.config("demo", "kiosk-demo-1"), lambda _t, b, _m: got.append(b))
    deadline = datetime.now() + timedelta(seconds=10)
    while not got and datetime.now() < deadline:
        kiosk.connected.wait(0.1)
    assert got and got[-1]["offline_numbers"] == {"first": 901, "last": 949}
    assert demo.app is not None
    st = demo.app.scheduler.states["demo"]
    st.counters["municipality"] = (st.today(datetime.now(UTC)), 899)
    first = ok(kiosk.request("ticket", {"service": "city-info", "lang": "fi"}))
    second = ok(kiosk.request("ticket", {"service": "city-info", "lang": "fi"}))
    assert (first["ticket"]["number"], second["ticket"]["number"]) == ("A900", "A950")


def test_scheduler_down_then_back_one_ticket_with_the_printed_number(
    demo: Demo, connect: Callable[..., DeviceClient]
) -> None:
    kiosk = connect("kiosk-demo-1", outbox=True)
    desk = connect("desk-demo-1")
    ok(kiosk.request("ticket", {"service": "city-info", "lang": "fi"}))  # A001, online
    demo.stop_scheduler()
    # The kiosk's command goes unanswered (it waits in the broker for the scheduler).
    first_id = p.new_id()
    try:
        kiosk.request("ticket", {"id": first_id, "service": "city-info", "lang": "fi"}, timeout=2)
        raise AssertionError("the scheduler is down: no reply expected")
    except Exception as exc:
        assert "no reply" in str(exc)
    issued = datetime.now(UTC).replace(microsecond=0)
    kiosk.send(
        "ticket",
        {
            "service": "city-info",
            "lang": "fi",
            "supersedes": first_id,
            "offline": {"number": "A901", "issued_at": p.rfc3339(issued)},
        },
        durable=True,
    )
    # Back: the first command arrives (a regular number), then the offline one, which
    # gives that ticket the printed number. One ticket, A901.
    demo.start_scheduler()
    deadline = datetime.now() + timedelta(seconds=15)
    while live_numbers(demo) != ["A001", "A901"] and datetime.now() < deadline:
        kiosk.connected.wait(0.2)
    assert live_numbers(demo) == ["A001", "A901"]
    assert kiosk.outbox is not None
    deadline = datetime.now() + timedelta(seconds=10)
    while kiosk.outbox.pending() and datetime.now() < deadline:
        kiosk.connected.wait(0.2)
    assert not kiosk.outbox.pending()
    # In the queue by arrival: A001 first, then A901.
    ok(desk.request("open", {"desk": "1"}))
    assert ok(desk.request("next", {"desk": "1"}))["ticket"]["number"] == "A001"
    assert ok(desk.request("next", {"desk": "1"}))["ticket"]["number"] == "A901"


def test_a_lost_command_arriving_late_gets_the_offline_ticket(
    demo: Demo, connect: Callable[..., DeviceClient]
) -> None:
    kiosk = connect("kiosk-demo-1")
    lost = p.new_id()  # never reached the broker
    issued = datetime.now(UTC) - timedelta(minutes=3)
    r = ok(
        kiosk.request(
            "ticket",
            {
                "service": "kela-benefits",
                "lang": "sv",
                "supersedes": lost,
                "offline": {"number": "K902", "issued_at": p.rfc3339(issued)},
            },
        )
    )
    assert r["ticket"]["number"] == "K902"
    # A walk-in who came after: the offline ticket stays ahead (issued 3 min ago).
    later = ok(kiosk.request("ticket", {"service": "kela-benefits", "lang": "fi"}))
    assert later["ticket"]["position"] == 1
    # The lost command turns up after all: the same reply, no second ticket.
    again = ok(kiosk.request("ticket", {"id": lost, "service": "kela-benefits", "lang": "sv"}))
    assert again["ticket"]["number"] == "K902"
    assert live_numbers(demo) == ["K001", "K902"]


def test_offline_numbers_outside_the_kiosks_range_are_refused(
    demo: Demo, connect: Callable[..., DeviceClient]
) -> None:
    kiosk = connect("kiosk-demo-1")
    now = p.rfc3339(datetime.now(UTC))
    for number in ("A950", "A001", "K900"):
        r = kiosk.request(
            "ticket",
            {"service": "city-info", "lang": "fi", "offline": {"number": number, "issued_at": now}},
        )
        assert not r["ok"] and r["error"]["code"] == "bad_request", r
    assert live_numbers(demo) == []
