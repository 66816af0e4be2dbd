"""The store round-trips a site on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.config import DEMO_SITE, load_config
from scheduler.store.db import Store


def test_roundtrip(store: Store) -> None:
    site = load_config(DEMO_SITE).site_defs()["demo"]
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    st = store.load_site(site, now)
    st.issue_ticket(
        service_id="city-info", lang="fi", priority=False, now=now, ticket_id="t1", token="tok1"
    )
    st.open_desk("1", now)
    st.next("1", now)
    store.commit([st], [], now)
    again = store.load_site(site, now)
    assert again.version == 1
    assert again.tickets["t1"].status == "called"
    assert again.tickets["t1"].arrival_at == now
    assert again.desks["1"].ticket_id == "t1"
    assert [c.number for c in again.calls] == ["A001"]
