"""Appointment check-in over a real broker (DOMAIN.md rule 3), with the demo's bookings
for today: by booking code, identity code; repeated check-in; the window; calls ahead of
walk-ins at the booked advisor's desk; the booking HTTP API of the same process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from firmware_common.mqtt import DeviceClient
from vuoro.demo import Demo


def _ok(reply: dict) -> dict:
    assert reply["ok"], reply
    return reply


def test_checkin_by_code_and_identity_code(
    demo: Demo, connect: Callable[..., DeviceClient]
) -> None:
    now_due, soon, tomorrow = demo.bookings
    kiosk = connect("kiosk-demo-1")

    r = _ok(kiosk.request("checkin", {"by": "code", "value": now_due["code"], "lang": "fi"}))
    ticket = r["ticket"]
    assert ticket["number"].startswith("K")  # the Kela queue's prefix
    assert ticket["appointment"]["code"] == now_due["code"]
    assert ticket["appointment"]["resource"] == "Aino Virtanen"
    assert datetime.fromisoformat(ticket["appointment"]["start"]) == datetime.fromisoformat(
        now_due["start"]
    )
    # Checking in again (the code typed in lower case, then the identity code): same ticket.
    again = _ok(
        kiosk.request("checkin", {"by": "code", "value": now_due["code"].lower(), "lang": "fi"})
    )
    assert again["ticket"]["number"] == ticket["number"]
    by_hetu = _ok(kiosk.request("checkin", {"by": "hetu", "value": now_due["hetu"], "lang": "sv"}))
    assert by_hetu["ticket"]["number"] == ticket["number"]

    # The next one starts in 20 minutes: inside the 30-minute window.
    r2 = _ok(kiosk.request("checkin", {"by": "code", "value": soon["code"], "lang": "sv"}))
    assert r2["ticket"]["number"] != ticket["number"]
    assert 0 < r2["ticket"]["eta_min"] <= 20

    # The same customer with their ID card (the card identifier, as the kiosk reads it).
    by_card = _ok(kiosk.request("checkin", {"by": "card", "value": soon["card"], "lang": "sv"}))
    assert by_card["ticket"]["number"] == r2["ticket"]["number"]

    # Tomorrow's is refused, saying when it is.
    r3 = kiosk.request("checkin", {"by": "code", "value": tomorrow["code"], "lang": "en"})
    assert not r3["ok"] and r3["error"]["code"] == "too_early"
    assert "Your appointment is on" in r3["error"]["message"]["en"]


def test_checkin_refusals(demo: Demo, connect: Callable[..., DeviceClient]) -> None:
    kiosk = connect("kiosk-demo-1")
    cases = [
        ({"by": "hetu", "value": "131052-308A"}, "invalid_hetu"),  # wrong check character
        ({"by": "hetu", "value": "310252-308T"}, "invalid_hetu"),  # 31 February
        ({"by": "hetu", "value": "131052-308T"}, "reservation_not_found"),  # valid, no booking
        ({"by": "code", "value": "7KQ-4MA"}, "invalid_code"),  # check character wrong
        ({"by": "code", "value": "not a code"}, "invalid_code"),
        ({"by": "card", "value": "04A1B2C3D4"}, "reservation_not_found"),
    ]
    for fields, code in cases:
        r = kiosk.request("checkin", {**fields, "lang": "fi"})
        assert not r["ok"] and r["error"]["code"] == code, (fields, r)
        assert all(r["error"]["message"][lang] for lang in ("fi", "sv", "en"))
    store = demo.app.booking.store  # type: ignore[union-attr]
    assert all(
        x.ticket_id is None
        for x in store.find(
            "demo",
            datetime.fromisoformat(demo.bookings[0]["start"]) - timedelta(days=1),
            datetime.fromisoformat(demo.bookings[0]["start"]) + timedelta(days=2),
        )
    )


def test_appointment_is_called_ahead_of_walk_ins_at_the_advisors_desk(
    demo: Demo, connect: Callable[..., DeviceClient]
) -> None:
    kiosk = connect("kiosk-demo-1")
    desk4 = connect("desk-demo-4")  # Aino's desk
    desk1 = connect("desk-demo-1")
    walk_in = _ok(kiosk.request("ticket", {"service": "city-info", "lang": "fi"}))["ticket"]
    appt = _ok(
        kiosk.request("checkin", {"by": "code", "value": demo.bookings[0]["code"], "lang": "fi"})
    )["ticket"]
    # Desk 1 does not serve the Kela queue and Aino is not away: it calls the walk-in.
    _ok(desk1.request("open", {"desk": "1"}))
    _ok(desk4.request("open", {"desk": "4"}))
    called4 = _ok(desk4.request("next", {"desk": "4"}))["ticket"]
    assert called4["number"] == appt["number"] and called4["appointment"]
    called1 = _ok(desk1.request("next", {"desk": "1"}))["ticket"]
    assert called1["number"] == walk_in["number"]
    # The reservation shows as checked in to staff (HTTP API of the same scheduler).
    key = demo.staff_key
    arrivals = httpx.get(
        f"{demo.web_url}/api/v1/sites/demo/arrivals",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    ).json()
    mine = next(a for a in arrivals if a["code"] == demo.bookings[0]["code"])
    assert mine["status"] == "checked_in" and mine["ticket_id"]


def test_booking_api_end_to_end(demo: Demo) -> None:
    base = demo.web_url
    assert base
    with httpx.Client(base_url=base, timeout=10) as http:
        spec = http.get("/api/openapi.json").json()
        assert "/api/v1/sites/{site}/holds" in spec["paths"]
        slots = http.get(
            "/api/v1/sites/demo/services/kela-benefits/slots", params={"limit": 3}
        ).json()
        assert len(slots) == 3
        slots = http.get(
            "/api/v1/sites/demo/services/kela-benefits/slots", params={"limit": 20}
        ).json()
        # A second time that does not overlap the first (another advisor, or later).
        second = next(
            s
            for s in slots[1:]
            if s["advisor"] != slots[0]["advisor"] or s["start"] >= slots[0]["end"]
        )
        hold = http.post(
            "/api/v1/sites/demo/holds",
            json={
                "service": "kela-benefits",
                "start": slots[0]["start"],
                "advisor": slots[0]["advisor"],
                "lang": "sv",
            },
        )
        assert hold.status_code == 201, hold.text
        body = {
            "hold_id": hold.json()["hold_id"],
            "name": "Sven Svensson",
            "email": "sven@example.fi",
            "lang": "sv",
        }
        # Someone else cannot take the held time.
        other = http.post(
            "/api/v1/sites/demo/reservations",
            json={
                "service": "kela-benefits",
                "start": slots[0]["start"],
                "advisor": slots[0]["advisor"],
                "name": "X",
                "email": "x@example.fi",
            },
        )
        assert other.status_code == 409 and other.json()["error"]["code"] == "slot_taken"
        assert "bokas" in other.json()["error"]["message"]["sv"]
        made = http.post("/api/v1/sites/demo/reservations", json=body)
        assert made.status_code == 201, made.text
        code = made.json()["code"]
        assert made.json()["instructions"]["sv"].startswith("Ta med")
        assert "name" not in made.json()  # the public view shows no personal data
        seen = http.get(f"/api/v1/reservations/{code}", params={"contact": "sven@example.fi"})
        assert seen.status_code == 200 and seen.json()["status"] == "booked"
        assert http.get(f"/api/v1/reservations/{code}").status_code == 404
        # Staff see the name; the switchboard books on behalf of a caller.
        staff = {"Authorization": f"Bearer {demo.staff_key}"}
        assert http.get(f"/api/v1/reservations/{code}", headers=staff).json()["name"] == (
            "Sven Svensson"
        )
        by_phone = http.post(
            "/api/v1/sites/demo/reservations",
            headers=staff,
            json={
                "service": "kela-benefits",
                "start": second["start"],
                "advisor": second["advisor"],
                "name": "Caller",
                "phone": "040 765 4321",
                "lang": "fi",
            },
        )
        assert by_phone.status_code == 201 and by_phone.json()["created_by"] == "switchboard"
        bad = http.get("/api/v1/sites/demo/arrivals", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 403
        # Within the demo's 2-hour limit a citizen cannot cancel online; staff can.
        late = http.post(f"/api/v1/reservations/{code}/cancel", json={"contact": "sven@example.fi"})
        assert late.status_code == 409 and late.json()["error"]["code"] == "cancel_too_late"
        gone = http.post(f"/api/v1/reservations/{code}/cancel", headers=staff, json={})
        assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
        # The advisor's feed for the team calendar.
        url = http.get(
            f"/api/v1/sites/demo/advisors/{second['advisor']}/feed-url", headers=staff
        ).json()["url"]
        feed = http.get(url.replace(demo.app.config.booking.public_url, ""))  # type: ignore[union-attr]
        assert feed.status_code == 200 and b"BEGIN:VCALENDAR" in feed.content
        assert b"Caller" not in feed.content  # no customer names in the team calendar
