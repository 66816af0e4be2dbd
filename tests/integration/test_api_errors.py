"""The booking API's refusals for odd input (found by tests/integration/test_api_schemathesis.py):
each is a clear 4xx in the API's error shape `{"error": {code, message{fi,sv,en}}}`, never a
server error, and an empty answer only where "nothing there" is the true answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from vuoro.demo import Demo


def refused(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] == code, err
    assert set(err["message"]) == {"fi", "sv", "en"} and all(err["message"].values())
    return err


@pytest.fixture
def api(demo: Demo) -> httpx.Client:
    assert demo.web_url
    with httpx.Client(base_url=f"{demo.web_url}/api/v1", timeout=20) as c:
        yield c


def test_unknown_site_is_a_404_with_its_own_message(api: httpx.Client) -> None:
    for path in ("/sites/nowhere/services", "/sites/" + "x" * 3000 + "/services"):
        err = refused(api.get(path), 404, "unknown_site")
        assert err["message"]["en"] == "No such service point."  # not "System error"


def test_feed_token_with_non_ascii_characters_is_refused(api: httpx.Client) -> None:
    # hmac.compare_digest raised TypeError on non-ASCII str: a 500.
    r = api.get("/sites/demo/advisors/aino/calendar.ics", params={"token": "ä" * 32})
    refused(r, 403, "not_allowed")


def test_days_of_month_at_the_ends_of_the_calendar(api: httpx.Client) -> None:
    # Year 0 made date() raise ValueError, December 9999 overflowed: both were 500s.
    refused(api.get("/sites/demo/services/kela-benefits/days?month=0000-01"), 400, "bad_request")
    r = api.get("/sites/demo/services/kela-benefits/days?month=9999-12")
    assert r.status_code == 200 and r.json() == []  # past the horizon: no free days
    assert api.get("/sites/demo/services/kela-benefits/days?month=0001-01").json() == []


def test_slots_from_far_dates(api: httpx.Client) -> None:
    url = "/sites/demo/services/kela-benefits/slots"
    r = api.get(url, params={"from": "9999-12-31T23:59:59Z", "limit": 3})
    assert r.status_code == 200 and r.json() == []  # overflowed: a 500
    r = api.get(url, params={"from": "0001-01-01T00:00:00+14:00", "limit": 3})
    assert r.status_code == 200
    assert r.json() == api.get(url, params={"limit": 3}).json()  # as good as "from now"


def test_arrivals_of_a_day_that_overflows(api: httpx.Client, demo: Demo) -> None:
    staff = {"Authorization": f"Bearer {demo.staff_key}"}
    for day in ("0001-01-01", "9999-12-31"):
        refused(
            api.get("/sites/demo/arrivals", params={"day": day}, headers=staff), 400, "bad_request"
        )


@pytest.mark.parametrize(
    "start", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2999-01-01T10:00:00Z"]
)
def test_hold_book_and_move_to_times_outside_the_booking_period(
    api: httpx.Client, demo: Demo, start: str
) -> None:
    refused(
        api.post("/sites/demo/holds", json={"service": "kela-benefits", "start": start}),
        422,
        "bad_slot",
    )
    body = {"service": "kela-benefits", "start": start, "name": "Testi", "email": "t@example.fi"}
    refused(api.post("/sites/demo/reservations", json=body), 422, "bad_slot")
    staff = {"Authorization": f"Bearer {demo.staff_key}"}
    code = demo.bookings[-1]["code"]
    err = refused(
        api.post(f"/reservations/{code}/reschedule", json={"start": start}, headers=staff),
        422,
        "bad_slot",
    )
    assert "outside the booking period" in err["message"]["en"]


def test_reschedule_to_a_time_without_a_time_zone(api: httpx.Client, demo: Demo) -> None:
    # Holds and bookings refused a naive time; a move read it in the server's zone.
    staff = {"Authorization": f"Bearer {demo.staff_key}"}
    code = demo.bookings[-1]["code"]
    start = demo.bookings[-1]["start"][:19]  # without its offset
    err = refused(
        api.post(f"/reservations/{code}/reschedule", json={"start": start}, headers=staff),
        422,
        "bad_slot",
    )
    assert "time zone missing" in err["message"]["en"]


def test_requests_the_models_refuse_get_the_error_shape(api: httpx.Client) -> None:
    # FastAPI answered these as {"detail": ...}, which the spec did not document.
    err = refused(api.get("/sites/demo/services/kela-benefits/slots?limit=0"), 422, "bad_request")
    assert "limit" in err["message"]["en"]
    refused(api.post("/sites/demo/holds", json={"service": "kela-benefits"}), 422, "bad_request")
    r = api.post(
        "/sites/demo/holds", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    refused(r, r.status_code if r.status_code in (400, 422) else 400, "bad_request")
    r = api.post("/sites/demo/holds", content=b"\xff", headers={"Content-Type": "text/plain"})
    refused(r, r.status_code if r.status_code in (400, 422) else 400, "bad_request")
