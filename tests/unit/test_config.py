"""The scheduler's TOML configuration: the demo site, cross-checks, errors, env overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_common import config as cfg
from firmware_common.config import ConfigError
from scheduler.config import DEMO_SITE, SchedulerConfig, load_config
from scheduler.domain.hours import WeeklyHours
from scheduler.domain.model import SiteDef

MINIMAL = """
[scheduler]
database = "sqlite:///tmp/x.db"

[[sites]]
id = "kuopio"
name = { fi = "Kuopio", sv = "Kuopio", en = "Kuopio" }
{site_extra}

[[sites.queues]]
id = "city"
prefix = "A"
name = { fi = "Kaupunki", sv = "Stad", en = "City" }

[[sites.queues]]
id = "kela"
prefix = "{kela_prefix}"
name = { fi = "Kela", sv = "FPA", en = "Kela" }

[[sites.services]]
id = "info"
name = { fi = "Neuvonta", sv = "Rådgivning", en = "Information" }
provider = "municipality"
queue = "{service_queue}"
{service_extra}

[[sites.desks]]
id = "1"
queues = [{desk_queues}]

[[sites.devices]]
id = "{device_id}"
role = "desk"
{device_desks}

[[sites.devices]]
id = "kiosk-kuopio-1"
role = "kiosk"
"""

GOOD = {
    "site_extra": "",
    "kela_prefix": "K",
    "service_queue": "city",
    "service_extra": "",
    "desk_queues": '"city", "kela"',
    "device_id": "desk-kuopio-1",
    "device_desks": 'desks = ["1"]',
}


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def site_toml(**changes: str) -> str:
    text = MINIMAL
    for key, value in {**GOOD, **changes}.items():
        text = text.replace("{" + key + "}", value)
    return text


def config_error(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        cfg.load(SchedulerConfig, path, env=env or {})
    msg = str(info.value)
    assert str(path) in msg, msg
    return msg


# --------------------------------------------------------------------------------- demo


def test_demo_config_loads_and_fits_the_protocol() -> None:
    conf = load_config(DEMO_SITE)
    site = conf.site_defs()["demo"]
    assert isinstance(site, SiteDef)
    assert site.timezone == "Europe/Helsinki"
    assert site.languages == ("fi", "sv", "en")
    assert set(site.desks) >= {"1", "2", "3", "4"}
    walk_in = [s for s in site.services.values() if s.walk_in]
    by_queue = {s.queue: s.provider for s in walk_in}
    assert len(by_queue) >= 3 and len(set(by_queue.values())) >= 3
    # Every queue a service or desk names exists; prefixes are unique.
    assert {s.queue for s in site.services.values()} <= set(site.queues)
    assert all(set(d.queues) <= set(site.queues) for d in site.desks.values())
    prefixes = [q.prefix for q in site.queues.values()]
    assert len(prefixes) == len(set(prefixes))
    # Work profiles overlap, and the first desk serves an always-open walk-in service.
    queues_of = [set(d.queues) for d in site.desks.values()]
    assert any(a & b for i, a in enumerate(queues_of) for b in queues_of[i + 1 :])
    first = site.desks["1"].queues
    assert any(s.queue in first and s.walk_in and s.walk_in_hours is None for s in walk_in)
    # The devices the headless demo hands out.
    devices = site.devices
    assert devices["kiosk-demo-1"].role == "kiosk"
    assert devices["display-demo-1"].role == "display"
    for n in range(1, 5):
        dev = devices[f"desk-demo-{n}"]
        assert dev.role == "desk" and dev.desks == (str(n),)


def test_minimal_config_loads(tmp_path: Path) -> None:
    conf = cfg.load(SchedulerConfig, write(tmp_path, site_toml()), env={})
    site = conf.site_defs()["kuopio"]
    assert site.queues["city"].weight == 1.0
    assert site.queues["city"].sl_target_min == 15.0
    assert site.services["info"].walk_in is True
    assert site.desks["1"].queues == ("city", "kela")
    assert site.hours == WeeklyHours.always()  # no hours: always open
    assert conf.mqtt.port == 1883
    assert conf.scheduler.database == "sqlite:///tmp/x.db"


# ------------------------------------------------------------------------- cross-checks


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"service_queue": "nope"}, ["service 'info'", "unknown queue 'nope'"]),
        ({"desk_queues": '"city", "nope"'}, ["desk '1'", "unknown queue 'nope'"]),
        ({"kela_prefix": "A"}, ["queue prefix 'A'", "twice"]),
        ({"device_desks": ""}, ["desk device 'desk-kuopio-1'", "no desks"]),
        ({"device_desks": 'desks = ["9"]'}, ["device 'desk-kuopio-1'", "unknown desk '9'"]),
        ({"site_extra": 'timezone = "Europe/Kuopio"'}, ["timezone", "Europe/Kuopio"]),
        ({"site_extra": 'hours = { "mon-fri" = "8-16" }'}, ["'8-16'"]),
        ({"site_extra": 'hours = { "mon-fry" = "8:00-16:00" }'}, ["mon-fry", "weekday"]),
        ({"service_extra": 'walk_in_hours = { "mon" = "16:00-8:00" }'}, ["'16:00-8:00'"]),
        ({"service_extra": 'walk_in_hours = { "moon" = "9:00-11:00" }'}, ["moon"]),
        ({"device_id": "Desk_Kuopio"}, ["devices.0.id"]),
        ({"kela_prefix": "kk"}, ["queues.1.prefix"]),
        ({"service_extra": 'colour = "red"'}, ["services.0.colour"]),
        ({"service_extra": "walk_in = 3"}, ["services.0.walk_in"]),
    ],
)
def test_cross_checks_name_the_bad_key(
    tmp_path: Path, changes: dict[str, str], mentions: list[str]
) -> None:
    msg = config_error(write(tmp_path, site_toml(**changes)))
    assert "invalid configuration" in msg
    for m in mentions:
        assert m in msg, f"{m!r} not in {msg!r}"
    assert "site 'kuopio'" in msg or "sites.0" in msg


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    text = site_toml()
    dup_queue = text.replace('id = "kela"\nprefix = "K"', 'id = "city"\nprefix = "K"')
    assert "queue id 'city' appears twice" in config_error(write(tmp_path, dup_queue))
    dup_device = text.replace('id = "kiosk-kuopio-1"', 'id = "desk-kuopio-1"')
    msg = config_error(write(tmp_path, dup_device, "b.toml"))
    assert "device id 'desk-kuopio-1' appears twice" in msg


def test_device_ids_are_unique_across_sites(tmp_path: Path) -> None:
    text = site_toml()
    second = text[text.index("[[sites]]") :].replace('id = "kuopio"', 'id = "iisalmi"')
    msg = config_error(write(tmp_path, text + second))
    assert "device id (across sites) 'desk-kuopio-1' appears twice" in msg
    both = text + second.replace("kuopio-1", "iisalmi-1")
    conf = cfg.load(SchedulerConfig, write(tmp_path, both, "ok.toml"), env={})
    assert set(conf.site_defs()) == {"kuopio", "iisalmi"}


def test_no_sites(tmp_path: Path) -> None:
    msg = config_error(write(tmp_path, "sites = []\n"))
    assert "at least one [[sites]]" in msg
    assert "sites" in config_error(write(tmp_path, "[mqtt]\nport = 1883\n", "b.toml"))


def test_bad_site_slug(tmp_path: Path) -> None:
    text = site_toml().replace('id = "kuopio"', 'id = "Kuopio!"', 1)
    assert "sites.0.id" in config_error(write(tmp_path, text))


# ------------------------------------------------------------------------ file problems


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(str(path))) as info:
        load_config(path)
    assert "no such configuration file" in str(info.value)


def test_invalid_toml_names_the_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nport = 1883\nhost = "unterminated\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg and "not valid TOML" in msg and "line 3" in msg


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        cfg.read_toml(tmp_path)  # a directory


def test_missing_password_file(tmp_path: Path) -> None:
    text = site_toml() + f'\n[mqtt]\npassword_file = "{tmp_path / "secret"}"\n'
    conf = cfg.load(SchedulerConfig, write(tmp_path, text), env={})
    with pytest.raises(ConfigError, match=r"mqtt\.password_file"):
        conf.mqtt.secret()
    (tmp_path / "secret").write_text("s3cret\n")
    assert conf.mqtt.secret() == "s3cret"


# ------------------------------------------------------------------------ env overrides


def test_env_overrides_apply(tmp_path: Path) -> None:
    path = write(tmp_path, site_toml())  # no [mqtt] table in the file at all
    env = {
        "VUORO_MQTT_PORT": "1884",
        "VUORO_MQTT_TLS": "true",
        "VUORO_SCHEDULER_DATABASE": "postgresql+psycopg://vuoro@db.example/vuoro",
        "VUORO_SCHEDULER_LOG_LEVEL": '"DEBUG"',
        "VUORO_UNRELATED": "x",
        "OTHER_MQTT_PORT": "1",
    }
    conf = cfg.load(SchedulerConfig, path, env=env)
    assert conf.mqtt.port == 1884
    assert conf.mqtt.tls is True
    assert conf.scheduler.database == "postgresql+psycopg://vuoro@db.example/vuoro"
    assert conf.scheduler.log_level == "DEBUG"
    assert conf.mqtt.host == "127.0.0.1"  # untouched
    plain = cfg.load(SchedulerConfig, path, env={})
    assert plain.mqtt.port == 1883
    assert plain.scheduler.database == "sqlite:///tmp/x.db"


def test_env_overrides_through_load_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VUORO_MQTT_PORT", "1884")
    monkeypatch.setenv("VUORO_SCHEDULER_DATABASE", f"sqlite:///{tmp_path / 'v.db'}")
    conf = load_config(DEMO_SITE)
    assert conf.mqtt.port == 1884
    assert conf.scheduler.database == f"sqlite:///{tmp_path / 'v.db'}"


def test_env_strings_that_look_like_numbers(tmp_path: Path) -> None:
    # A numeric password or user name from the environment stays a string.
    env = {"VUORO_MQTT_PASSWORD": "12345678", "VUORO_MQTT_USERNAME": "2024"}
    conf = cfg.load(SchedulerConfig, write(tmp_path, site_toml()), env=env)
    assert conf.mqtt.password == "12345678"
    assert conf.mqtt.username == "2024"
    assert conf.mqtt.secret() == "12345678"
    conf = cfg.load(SchedulerConfig, DEMO_SITE, env={"VUORO_MQTT_PASSWORD": '"007"'})
    assert conf.mqtt.password == "007"  # quoted: TOML string


def test_bad_env_value_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, site_toml())
    msg = config_error(path, env={"VUORO_MQTT_PORT": "99999"})
    assert "mqtt.port" in msg
    msg = config_error(path, env={"VUORO_MQTT_PORT": "eighty"})
    assert "mqtt.port" in msg


def test_apply_env_leaves_lists_and_unknown_sections_alone() -> None:
    data = {"mqtt": {"port": 1883}, "sites": [{"id": "x"}]}
    out = cfg.apply_env(data, env={"VUORO_MQTT_PORT": "1884", "VUORO_SITES_ID": "y"})
    assert out == {"mqtt": {"port": 1884}, "sites": [{"id": "x"}]}
    known = {"extra": ["list_value"]}
    out = cfg.apply_env({}, env={"VUORO_EXTRA_LIST_VALUE": '["a", "b"]'}, known=known)
    assert out == {"extra": {"list_value": ["a", "b"]}}
