"""Live site configuration (scheduler/siteconfig.py) on the real demo: a change is checked
by the config file's models, refused when it would strand a customer, stored, and taken
by the running scheduler at once (retained configs, desk states and the lobby snapshot
republished); it survives a restart; the config file wins again when *it* changes."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_common import protocol as p
from firmware_common.mqtt import DeviceClient
from scheduler.domain.errors import DomainError
from scheduler.siteconfig import ConfigConflict, ConfigInvalid, SiteConfigStore, site_doc
from tests.support.mqtt_watch import Watch, watch_demo
from vuoro.demo import Demo

SITE = "demo"


@pytest.fixture
def watch(demo: Demo) -> Iterator[Watch]:
    w = watch_demo(demo, f"{p.PREFIX}/{SITE}/#")
    yield w
    w.close()


def doc_of(demo: Demo) -> tuple[dict[str, Any], int]:
    admin = demo.app.admin  # type: ignore[union-attr]
    return copy.deepcopy(site_doc(admin.site(SITE))), admin.version(SITE)


def test_a_notice_and_a_work_profile_reach_the_devices_at_once(demo: Demo, watch: Watch) -> None:
    admin = demo.app.admin  # type: ignore[union-attr]
    doc, version = doc_of(demo)
    doc["message"] = {"fi": "Kassa suljettu", "sv": "Kassan stängd", "en": "Cashier closed"}
    desk1 = next(d for d in doc["desks"] if d["id"] == "1")
    desk1["queues"] = ["kela"]
    new_version = admin.apply(doc, by="test", expected_version=version)
    assert new_version == version + 1
    disp = watch.wait(p.Topics.display_state(SITE), lambda b: b and b.get("message"))
    assert disp["message"]["sv"] == "Kassan stängd"
    cfg = watch.wait(
        p.Topics.config(SITE, "desk-demo-1"), lambda b: b and b.get("queues") == ["kela"]
    )
    assert cfg["desk"] == "1"
    # The stored copy is the truth now.
    stored = SiteConfigStore(demo.app.store.engine).versions()[SITE]  # type: ignore[union-attr]
    assert stored[0] == new_version and stored[2] == "test"


def test_bad_changes_are_refused_and_change_nothing(
    demo: Demo, watch: Watch, connect: Callable[..., DeviceClient]
) -> None:
    admin = demo.app.admin  # type: ignore[union-attr]
    before_cfg = watch.wait(p.Topics.config(SITE, "kiosk-demo-1"), lambda b: bool(b))
    doc, version = doc_of(demo)
    # Two queues with one prefix: the config file's own check.
    bad = copy.deepcopy(doc)
    bad["queues"][1]["prefix"] = bad["queues"][0]["prefix"]
    with pytest.raises(ConfigInvalid) as info:
        admin.apply(bad, by="test", expected_version=version)
    assert any("prefix" in x for x in info.value.problems), info.value.problems
    bad = copy.deepcopy(doc)
    bad["hours"] = {"mon-fri": "25:00-26:00"}
    with pytest.raises(ConfigInvalid):
        admin.apply(bad, by="test", expected_version=version)
    # Somebody else's version: a conflict.
    with pytest.raises(ConfigConflict):
        admin.apply(doc, by="test", expected_version=version + 5)
    # A queue with a customer in it cannot go.
    kiosk = connect("kiosk-demo-1")
    got = kiosk.request("ticket", {"service": "tax-card", "lang": "fi"})
    assert got["ok"], got
    bad = copy.deepcopy(doc)
    bad["queues"] = [q for q in bad["queues"] if q["id"] != "tax"]
    bad["services"] = [s for s in bad["services"] if s["queue"] != "tax"]
    bad["desks"] = [{**d, "queues": [q for q in d["queues"] if q != "tax"]} for d in bad["desks"]]
    with pytest.raises(DomainError) as refused:
        admin.apply(bad, by="test", expected_version=version)
    assert refused.value.code == "bad_state"
    assert admin.version(SITE) == version
    assert watch.get(p.Topics.config(SITE, "kiosk-demo-1")) == before_cfg


def test_a_device_added_and_removed_live(
    demo: Demo, watch: Watch, connect: Callable[..., DeviceClient]
) -> None:
    admin = demo.app.admin  # type: ignore[union-attr]
    doc, version = doc_of(demo)
    doc["devices"].append({"id": "desk-demo-9", "role": "desk", "desks": ["3"]})
    version = admin.apply(doc, by="test", expected_version=version)
    cfg = watch.wait(p.Topics.config(SITE, "desk-demo-9"), lambda b: bool(b))
    assert cfg["role"] == "desk" and cfg["desk"] == "3"
    # Removing a device clears its retained config and its commands are refused.
    desk2 = connect("desk-demo-2")
    assert desk2.request("open", {"desk": "2"})["ok"]
    doc["devices"] = [d for d in doc["devices"] if d["id"] != "desk-demo-2"]
    admin.apply(doc, by="test", expected_version=version)
    watch.wait(p.Topics.config(SITE, "desk-demo-2"), lambda b: b is None)
    refused = desk2.request("next", {"desk": "2"})
    assert refused["ok"] is False and refused["error"]["code"] == "not_allowed"


def test_changes_survive_a_restart_until_the_file_changes(demo: Demo, tmp_path: Path) -> None:
    admin = demo.app.admin  # type: ignore[union-attr]
    doc, version = doc_of(demo)
    doc["message"] = {"fi": "Huomio", "sv": "Observera", "en": "Notice"}
    admin.apply(doc, by="test", expected_version=version)
    demo.stop_scheduler()
    demo.start_scheduler()
    again = demo.app.admin.site(SITE)  # type: ignore[union-attr]
    assert again.message is not None and again.message.en == "Notice"
    # The file's site changes (here: its name): the file wins, and says so in the log.
    base = demo.config.model_dump(by_alias=True)
    base["sites"][0]["name"]["en"] = "Demola Service Point (renamed)"
    from scheduler.config import SchedulerConfig

    demo.config = SchedulerConfig.model_validate(base)
    demo.stop_scheduler()
    demo.start_scheduler()
    now = demo.app.admin.site(SITE)  # type: ignore[union-attr]
    assert now.name.en == "Demola Service Point (renamed)"
    assert now.message is None
