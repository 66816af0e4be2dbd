"""The walk-in flow end to end over a real broker: ticket, open, next."""

from __future__ import annotations


def test_ticket_then_call(connect) -> None:
    kiosk = connect("kiosk-demo-1")
    desk = connect("desk-demo-1")
    r = kiosk.request("ticket", {"service": "city-info", "lang": "fi"})
    assert r["ok"] is True and r["ticket"]["number"] == "A001"
    assert desk.request("open", {"desk": "1"})["desk"]["status"] == "open"
    r = desk.request("next", {"desk": "1"})
    assert r["ok"] and r["ticket"]["number"] == "A001"
    assert r["desk"] == {"desk": "1", "status": "calling", "ticket": "A001", "waiting": 0}
