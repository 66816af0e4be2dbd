"""The lobby display's pure model: snapshot order, call events, blink, rotation, privacy."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from display.announce import announcement_text, languages_for, spoken_number
from display.model import DisplayModel, eta_text

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def ts(sec: float) -> str:
    t = NOW + timedelta(seconds=sec)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def snap(seq: int, at: float, called: list[tuple[str, str]], **extra: object) -> dict:
    return {
        "v": 1,
        "seq": seq,
        "at": ts(at),
        "open": True,
        "called": [
            {"number": n, "desk": d, "at": ts(int(n[1:])), "recall": False} for n, d in called
        ],
        "queues": [
            {
                "id": "a",
                "name": {"fi": "Kaupunki", "sv": "Staden", "en": "City"},
                "waiting": 3,
                "eta_min": 12,
            }
        ],
        "message": None,
        **extra,
    }


def test_older_and_repeated_snapshots_are_ignored() -> None:
    m = DisplayModel()
    assert m.apply_snapshot(snap(5, 5, [("A005", "1")]), 0)
    assert not m.apply_snapshot(snap(4, 4, [("A004", "1")]), 1)
    assert not m.apply_snapshot(snap(5, 5, [("A004", "1")]), 1)
    assert m.view(1, NOW).newest.number == "A005"
    assert m.apply_snapshot(snap(6, 6, [("A006", "2"), ("A005", "1")]), 2)
    v = m.view(2, NOW)
    assert (v.newest.number, v.newest.desk) == ("A006", "2")
    assert [c.number for c in v.previous] == ["A005"]


def test_a_restarted_counter_with_a_later_time_is_taken() -> None:
    m = DisplayModel()
    m.apply_snapshot(snap(500, 5, [("A005", "1")]), 0)
    assert m.apply_snapshot(snap(1, 60, [("B001", "3")]), 1)
    assert m.seq == 1


def test_call_event_shows_before_its_snapshot_and_is_announced_once() -> None:
    m = DisplayModel()
    m.apply_snapshot(snap(1, 0, [("A001", "1")]), 0)
    ev = {"number": "A002", "desk": "2", "recall": False, "at": ts(10), "lang": "sv"}
    assert m.apply_call(ev, 10, NOW + timedelta(seconds=10))
    assert m.view(10, NOW).newest.number == "A002"
    assert not m.apply_call(ev, 10.1, NOW + timedelta(seconds=10))  # duplicate delivery
    m.apply_snapshot(snap(2, 10, [("A002", "2"), ("A001", "1")]), 10.2)
    v = m.view(10.3, NOW)
    assert v.newest.number == "A002" and [c.number for c in v.previous] == ["A001"]


def test_stale_events_are_not_announced() -> None:
    m = DisplayModel(max_age_s=60)
    ev = {"number": "A002", "desk": "2", "recall": False, "at": ts(0), "lang": "fi"}
    assert not m.apply_call(ev, 0, NOW + timedelta(minutes=5))


def test_blink_on_new_call_not_on_first_snapshot() -> None:
    m = DisplayModel(blink_s=4)
    m.apply_snapshot(snap(1, 0, [("A001", "1")]), 0)
    assert not m.flashing(0.1)
    m.apply_snapshot(snap(2, 1, [("A002", "1"), ("A001", "1")]), 10)
    assert m.flashing(10.1) and m.blink_on(10.1)
    assert not m.blink_on(10.6)  # second half-period: plain
    assert m.blink_on(11.1)
    assert not m.flashing(14.1)
    m.apply_snapshot(
        snap(3, 2, [("A002", "1"), ("A001", "1")], message={"fi": "x", "sv": "y", "en": "z"}), 20
    )
    assert not m.flashing(20.1)  # same newest call: no blink


def test_language_rotation_and_texts() -> None:
    m = DisplayModel(rotate_s=8)
    m.set_config(
        {
            "languages": ["fi", "sv", "en"],
            "site_name": {"fi": "Piste", "sv": "Punkt", "en": "Point"},
        }
    )
    m.apply_snapshot(
        snap(1, 0, [], message={"fi": "Häiriö", "sv": "Störning", "en": "Disruption"}), 0
    )
    views = [m.view(t, NOW) for t in (0, 8, 16, 24)]
    assert [v.lang for v in views] == ["fi", "sv", "en", "fi"]
    assert [v.queues[0].name for v in views[:3]] == ["Kaupunki", "Staden", "City"]
    assert [v.notice for v in views[:3]] == ["Häiriö", "Störning", "Disruption"]
    assert views[1].texts["desk"] == "Disk" and views[1].site_name == "Punkt"
    m.languages = ["sv"]  # the display's own override
    assert m.view(0, NOW).lang == "sv"


def test_offline_mark_keeps_the_last_state() -> None:
    m = DisplayModel()
    m.set_connected(True)
    m.set_scheduler({"online": True})
    m.apply_snapshot(snap(1, 0, [("A001", "1")]), 0)
    assert not m.view(0, NOW).offline
    m.set_scheduler({"v": 1, "online": False})
    v = m.view(1, NOW)
    assert v.offline and v.newest.number == "A001"
    m.set_scheduler({"online": True})
    m.set_connected(False)
    assert m.view(2, NOW).offline


def test_nothing_personal_reaches_the_view() -> None:
    m = DisplayModel()
    body = snap(1, 0, [("A001", "1")])
    body["called"][0].update(name="Maija Meikäläinen", hetu="010190-900X", lang="fi")
    body["queues"][0]["customers"] = ["Maija Meikäläinen"]
    m.apply_snapshot(body, 0)
    m.apply_call(
        {"number": "A002", "desk": "2", "recall": False, "at": ts(1), "lang": "fi", "name": "Sven"},
        1,
        NOW,
    )
    text = repr(dataclasses.asdict(m.view(1, NOW)))
    assert "Maija" not in text and "010190" not in text and "Sven" not in text
    assert {f.name for f in dataclasses.fields(m.view(1, NOW).newest)} == {
        "number",
        "desk",
        "at",
        "recall",
    }


def test_eta_and_spoken_texts() -> None:
    assert eta_text(0) == "0 min" and eta_text(12) == "~12 min" and eta_text(95) == "~1 h 35 min"
    assert spoken_number("A012", "fi") == "A 12" and spoken_number("A012", "en") == "A-12"
    assert announcement_text("A012", "3", "fi") == "Numero A 12, palvelupiste 3"
    assert announcement_text("A012", "3", "sv", recall=True) == "Nummer A 12, disk 3, igen"
    assert announcement_text("K004", "2", "en", recall=True) == "Number K-4, desk 2, again"
    assert languages_for("sv", ["fi", "sv", "en"]) == ["sv", "fi"]
    assert languages_for("fi", ["fi", "sv", "en"]) == ["fi"]
    assert languages_for(None, ["sv", "fi"]) == ["sv"]
