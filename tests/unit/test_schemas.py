"""The JSON Schema files of docs/schemas/: up to date, valid, and saying what the contract says."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from firmware_common import protocol as p
from firmware_common import schemas

UUID = "3f0c2a9e-6b1d-4c57-9a8e-2d4f6b7c8a01"
NAMES = {"fi": "Kela", "sv": "FPA", "en": "Kela (social security)"}
TICKET = {
    "number": "A012",
    "queue": "municipality",
    "service": "city-info",
    "position": 4,
    "eta_min": 12,
    "issued_at": "2026-11-23T08:14:40.120Z",
    "status_url": "http://localhost:8080/t/4fJq2xQ0vN8kYb1cZr7TtA",
    "appointment": None,
}
DESK = {"desk": "1", "status": "calling", "ticket": "A012", "waiting": 3}
ERROR = {
    "code": "desk_closed",
    "message": {
        "fi": "Palvelupiste on suljettu. Avaa se ensin.",
        "sv": "Disken är stängd. Öppna den först.",
        "en": "The desk is closed. Open it first.",
    },
}
SERVICE = {
    "id": "kela-benefits",
    "name": {"fi": "Kelan etuudet", "sv": "FPA:s förmåner", "en": "Kela benefits"},
    "provider": "kela",
    "queue": "kela",
    "walk_in": True,
    "appointments": False,
    "open": True,
}
CALLED = {"number": "A012", "desk": "3", "at": "2026-11-23T08:19:36.120Z", "recall": False}
QUEUE = {"id": "kela", "name": NAMES, "waiting": 3, "eta_min": 24}
DISPLAY = {
    "v": 1,
    "seq": 7,
    "at": "2026-11-23T08:19:36.120Z",
    "open": True,
    "called": [CALLED],
    "queues": [QUEUE],
    "message": None,
}
BASE_CONFIG = {"v": 1, "site": "demo", "role": "kiosk", "languages": ["fi", "sv", "en"]}

# Payloads the contract allows, by schema.
GOOD: dict[str, list[dict[str, Any]]] = {
    "cmd-ticket": [
        {"v": 1, "id": UUID, "service": "city-info", "lang": "fi"},
        {"v": 1, "id": UUID, "service": "city-info", "lang": "sv", "priority": True},
        {"v": 1, "id": UUID, "service": "city-info", "lang": "en", "later_field": [1]},
    ],
    "cmd-checkin": [
        {"v": 1, "id": UUID, "by": "code", "value": "QX7-42", "lang": "fi"},
        {"v": 1, "id": UUID, "by": "hetu", "value": "131052-308T", "lang": "sv"},
        {"v": 1, "id": UUID, "by": "card", "value": "3B:8F:80:01", "lang": "en"},
    ],
    "cmd-desk": [{"v": 1, "id": UUID, "desk": "1"}, {"v": 1, "id": "x", "desk": "A-12"}],
    "cmd-transfer": [{"v": 1, "id": UUID, "desk": "1", "queue": "kela"}],
    "cmd-call": [{"v": 1, "id": UUID, "desk": "1", "number": "A012"}],
    "reply-ok": [
        {"v": 1, "id": UUID, "ok": True, "ticket": TICKET},
        {"v": 1, "id": UUID, "ok": True, "ticket": {**TICKET, "priority": True}},
        {
            "v": 1,
            "id": UUID,
            "ok": True,
            "ticket": {
                **TICKET,
                "number": "K001",
                "appointment": {
                    "code": "QX7-42",
                    "start": "2026-11-23T09:30:00Z",
                    "resource": "Advisor 3",
                },
            },
        },
        {"v": 1, "id": UUID, "ok": True, "ticket": TICKET, "desk": DESK, "finished": "A011"},
        {
            "v": 1,
            "id": UUID,
            "ok": True,
            "finished": "A011",
            "ticket": None,
            "desk": {**DESK, "status": "open", "ticket": None, "waiting": 0},
        },
        {"v": 1, "id": UUID, "ok": True},
    ],
    "reply-error": [
        {"v": 1, "id": UUID, "ok": False, "error": ERROR},
        {"v": 1, "id": UUID, "ok": False, "error": {**ERROR, "code": "a_later_code"}},
    ],
    "state-display": [
        DISPLAY,
        {**DISPLAY, "called": [], "open": False, "message": NAMES},
        {**DISPLAY, "called": [{**CALLED, "recall": True}] * 8},
    ],
    "state-desk": [
        {"v": 1, "status": "closed", "ticket": None, "waiting": 0},
        {"v": 1, "status": "serving", "ticket": "V003", "waiting": 12},
    ],
    "event-called": [
        {"v": 1, "number": "A012", "desk": "3", "recall": False, "at": CALLED["at"], "lang": "sv"}
    ],
    "config-device": [
        {**BASE_CONFIG, "services": [SERVICE, {**SERVICE, "instructions": NAMES}]},
        {**BASE_CONFIG, "services": [], "site_name": NAMES},
        {**BASE_CONFIG, "role": "desk", "desk": "3", "queues": ["kela", "tax"]},
        {
            **BASE_CONFIG,
            "role": "desk",
            "desk": "3",
            "queues": ["kela"],
            "desks": ["3"],
            "queue_names": {"kela": NAMES},
        },
        {**BASE_CONFIG, "role": "display", "layout": "landscape", "languages": ["fi"]},
    ],
    "status-scheduler": [
        {"v": 1, "online": True},
        {"v": 1, "online": True, "version": "0.1.0"},
        {"v": 1, "online": False},
    ],
    "status-device": [
        {"v": 1, "online": True, "role": "display", "version": "0.1.0"},
        {
            "v": 1,
            "online": True,
            "role": "kiosk",
            "version": "",
            "printer": "paper_low",
            "reader": "absent",
        },
        {"v": 1, "online": False},
    ],
}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `base` with `value` at "a.b.0.c" (the sentinel DELETE removes the key)."""
    out = copy.deepcopy(base)
    node: Any = out
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        node = node[k]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return out


DELETE = object()
TICKET_CMD = GOOD["cmd-ticket"][0]
OK_TICKET = GOOD["reply-ok"][0]
ERR = GOOD["reply-error"][0]
KIOSK_CFG = GOOD["config-device"][0]
DESK_CFG = GOOD["config-device"][2]
DEV = GOOD["status-device"][1]

# Payloads the contract refuses: (schema, why, payload).
BAD: list[tuple[str, str, Any]] = [
    ("cmd-ticket", "ticket without service", _with(TICKET_CMD, "service", DELETE)),
    ("cmd-ticket", "v=2", _with(TICKET_CMD, "v", 2)),
    ("cmd-ticket", "no v", _with(TICKET_CMD, "v", DELETE)),
    ("cmd-ticket", "v as a string", _with(TICKET_CMD, "v", "1")),
    ("cmd-ticket", "bad lang", _with(TICKET_CMD, "lang", "de")),
    ("cmd-ticket", "no id", _with(TICKET_CMD, "id", DELETE)),
    ("cmd-ticket", "empty id", _with(TICKET_CMD, "id", "")),
    ("cmd-ticket", "numeric id", _with(TICKET_CMD, "id", 17)),
    ("cmd-ticket", "priority as a string", _with(TICKET_CMD, "priority", "yes")),
    ("cmd-ticket", "not an object", ["ticket"]),
    ("cmd-checkin", "by name", {**GOOD["cmd-checkin"][0], "by": "name"}),
    ("cmd-checkin", "empty value", {**GOOD["cmd-checkin"][0], "value": ""}),
    ("cmd-checkin", "no lang", _with(GOOD["cmd-checkin"][0], "lang", DELETE)),
    ("cmd-desk", "no desk", {"v": 1, "id": UUID}),
    ("cmd-desk", "desk as a number", {"v": 1, "id": UUID, "desk": 1}),
    ("cmd-transfer", "no queue", {"v": 1, "id": UUID, "desk": "1"}),
    ("cmd-call", "a number of no ticket shape", {"v": 1, "id": UUID, "desk": "1", "number": "12"}),
    ("reply-ok", "ticket number a12", _with(OK_TICKET, "ticket.number", "a12")),
    ("reply-ok", "ticket number A12", _with(OK_TICKET, "ticket.number", "A12")),
    ("reply-ok", "ticket number A0123", _with(OK_TICKET, "ticket.number", "A0123")),
    ("reply-ok", "ok false", _with(OK_TICKET, "ok", False)),
    ("reply-ok", "no ok", _with(OK_TICKET, "ok", DELETE)),
    ("reply-ok", "negative position", _with(OK_TICKET, "ticket.position", -1)),
    ("reply-ok", "eta as a string", _with(OK_TICKET, "ticket.eta_min", "12")),
    ("reply-ok", "local time", _with(OK_TICKET, "ticket.issued_at", "2026-11-23T10:14:40+02:00")),
    ("reply-ok", "no T", _with(OK_TICKET, "ticket.issued_at", "2026-11-23 08:14:40Z")),
    ("reply-ok", "no appointment", _with(OK_TICKET, "ticket.appointment", DELETE)),
    ("reply-ok", "appointment no code", _with(OK_TICKET, "ticket.appointment", {"start": "x"})),
    ("reply-ok", "desk status busy", {**GOOD["reply-ok"][3], "desk": {**DESK, "status": "busy"}}),
    ("reply-ok", "finished a11", {**GOOD["reply-ok"][3], "finished": "a11"}),
    ("reply-error", "no error", _with(ERR, "error", DELETE)),
    ("reply-error", "ok true", _with(ERR, "ok", True)),
    ("reply-error", "code not snake_case", _with(ERR, "error.code", "Bad-Request")),
    ("reply-error", "message without sv", _with(ERR, "error.message.sv", DELETE)),
    ("reply-error", "message in German too", _with(ERR, "error.message.de", "Fehler")),
    ("reply-error", "message as a string", _with(ERR, "error.message", "Desk closed")),
    ("state-display", "nine calls", {**DISPLAY, "called": [CALLED] * 9}),
    ("state-display", "negative seq", {**DISPLAY, "seq": -1}),
    ("state-display", "no message", _with(DISPLAY, "message", DELETE)),
    ("state-display", "message in fi only", {**DISPLAY, "message": {"fi": "Suljettu"}}),
    ("state-display", "waiting as a string", _with(DISPLAY, "queues.0.waiting", "3")),
    ("state-display", "call without recall", _with(DISPLAY, "called.0.recall", DELETE)),
    ("state-display", "open missing", _with(DISPLAY, "open", DELETE)),
    ("state-desk", "status busy", {"v": 1, "status": "busy", "ticket": None, "waiting": 0}),
    ("state-desk", "ticket as a number", {"v": 1, "status": "open", "ticket": 12, "waiting": 0}),
    ("state-desk", "no waiting", {"v": 1, "status": "open", "ticket": None}),
    ("state-desk", "no ticket key", {"v": 1, "status": "open", "waiting": 0}),
    ("event-called", "recall no", _with(GOOD["event-called"][0], "recall", "no")),
    ("event-called", "lang de", _with(GOOD["event-called"][0], "lang", "de")),
    ("event-called", "desk as a number", _with(GOOD["event-called"][0], "desk", 3)),
    ("event-called", "number a12", _with(GOOD["event-called"][0], "number", "a12")),
    ("config-device", "kiosk without services", _with(KIOSK_CFG, "services", DELETE)),
    ("config-device", "kiosk services null", _with(KIOSK_CFG, "services", None)),
    ("config-device", "service without walk_in", _with(KIOSK_CFG, "services.0.walk_in", DELETE)),
    ("config-device", "desk without queues", _with(DESK_CFG, "queues", DELETE)),
    ("config-device", "desk without desk", _with(DESK_CFG, "desk", DELETE)),
    ("config-device", "display without layout", {**BASE_CONFIG, "role": "display"}),
    ("config-device", "role printer", {**BASE_CONFIG, "role": "printer"}),
    ("config-device", "site with capitals", {**KIOSK_CFG, "site": "Demo"}),
    ("config-device", "language de", {**KIOSK_CFG, "languages": ["fi", "de"]}),
    ("config-device", "no languages", _with(KIOSK_CFG, "languages", DELETE)),
    ("status-scheduler", "online yes", {"v": 1, "online": "yes"}),
    ("status-scheduler", "no online", {"v": 1}),
    ("status-device", "online without role", _with(DEV, "role", DELETE)),
    ("status-device", "online without version", _with(DEV, "version", DELETE)),
    ("status-device", "printer jammed", _with(DEV, "printer", "jammed")),
    ("status-device", "reader broken", _with(DEV, "reader", "broken")),
    ("status-device", "role printer", _with(DEV, "role", "printer")),
]


def test_schema_files_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["--check"]) == 0, capsys.readouterr().err
    files = sorted(path.stem for path in schemas.DEFAULT_DIR.glob("*.json"))
    assert files == sorted(p.SCHEMA_MODELS)


def test_check_lists_stale_files_and_write_fixes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 1  # nothing written yet
    assert schemas.main(["--write", "--dir", str(tmp_path)]) == 0
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 0
    edited = tmp_path / "state-desk.json"
    edited.write_text(edited.read_text().replace('"closed"', '"shut"'))
    (tmp_path / "cmd-dance.json").write_text("{}")
    (tmp_path / "reply-ok.json").unlink()
    capsys.readouterr()
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    for name in ("state-desk.json", "cmd-dance.json", "reply-ok.json"):
        assert name in err
    assert "cmd-ticket.json" not in err
    assert schemas.main(["--write", "--dir", str(tmp_path)]) == 0
    assert not (tmp_path / "cmd-dance.json").exists()
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 0


@pytest.mark.parametrize("name", sorted(p.SCHEMA_MODELS))
def test_each_file_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = json.loads((schemas.DEFAULT_DIR / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://vuoro.fi/schemas/v1/{name}.json"
    assert schema["title"].startswith("Vuoro v1") and "Topic: vuoro/v1/" in schema["description"]
    assert schema["type"] == "object" and "v" in schema["required"]
    # Third-party makers read these files: every field says what it is.
    objects = [("", schema), *schema.get("$defs", {}).items()]
    for where, obj in objects:
        for field, sub in obj.get("properties", {}).items():
            assert sub.get("description"), f"{name}: {where}.{field} has no description"


def test_every_schema_has_a_title_and_topic() -> None:
    assert set(schemas.INFO) == set(p.SCHEMA_MODELS)


def test_the_examples_cover_every_schema() -> None:
    assert set(GOOD) == set(p.SCHEMA_MODELS)
    assert {name for name, _, _ in BAD} == set(p.SCHEMA_MODELS)


@pytest.mark.parametrize(
    ("name", "payload"),
    [(name, payload) for name, payloads in GOOD.items() for payload in payloads],
)
def test_good_payloads_validate(name: str, payload: dict[str, Any]) -> None:
    assert schemas.errors(name, payload) == []
    schemas.validate(name, payload)
    # ... and the models (what the scheduler and the devices parse with) take them too.
    p.SCHEMA_MODELS[name].model_validate_json(json.dumps(payload))


@pytest.mark.parametrize(("name", "why", "payload"), BAD, ids=[f"{n}: {w}" for n, w, _ in BAD])
def test_bad_payloads_are_refused(name: str, why: str, payload: Any) -> None:
    assert schemas.errors(name, payload), f"{name} accepted {why}"
    with pytest.raises(ValidationError):
        schemas.validate(name, payload)


@pytest.mark.parametrize(
    ("topic", "ok", "name"),
    [
        ("vuoro/v1/demo/cmd/kiosk-demo-1/ticket", None, "cmd-ticket"),
        ("vuoro/v1/demo/cmd/kiosk-demo-1/checkin", None, "cmd-checkin"),
        ("vuoro/v1/demo/cmd/desk-demo-1/transfer", None, "cmd-transfer"),
        *[
            (f"vuoro/v1/demo/cmd/desk-demo-1/{verb}", None, "cmd-desk")
            for verb in sorted(p.DESK_VERBS - {"transfer", "call"})
        ],
        ("vuoro/v1/demo/reply/kiosk-demo-1", True, "reply-ok"),
        ("vuoro/v1/demo/reply/kiosk-demo-1", False, "reply-error"),
        ("vuoro/v1/demo/state/display", None, "state-display"),
        ("vuoro/v1/demo/state/desk/3", None, "state-desk"),
        ("vuoro/v1/demo/event/called", None, "event-called"),
        ("vuoro/v1/demo/config/desk-demo-1", None, "config-device"),
        ("vuoro/v1/scheduler/status", None, "status-scheduler"),
        ("vuoro/v1/demo/status/kiosk-demo-1", None, "status-device"),
        # a site may be called "scheduler": its topics are longer
        ("vuoro/v1/scheduler/status/kiosk-1", None, "status-device"),
        # not the protocol's
        ("vuoro/v1/demo/cmd/kiosk-demo-1/dance", None, None),
        ("vuoro/v1/demo/cmd/kiosk-demo-1", None, None),
        ("vuoro/v1/demo/cmd/Kiosk/ticket", None, None),
        ("vuoro/v1/Demo/state/display", None, None),
        ("vuoro/v2/demo/state/display", None, None),
        ("vuoro/v1/demo/state/lamp", None, None),
        ("vuoro/v1/demo/state/desk/", None, None),
        ("vuoro/v1/demo/event/opened", None, None),
        ("other/v1/demo/state/display", None, None),
        ("", None, None),
    ],
)
def test_schema_for_topic(topic: str, ok: bool | None, name: str | None) -> None:
    assert schemas.schema_for_topic(topic, ok) == name


def test_a_reply_needs_its_ok_flag() -> None:
    with pytest.raises(ValueError):
        schemas.schema_for_topic("vuoro/v1/demo/reply/kiosk-demo-1")
    assert schemas.validate_message("vuoro/v1/demo/reply/k-1", ERR) == "reply-error"
    with pytest.raises(ValidationError):
        schemas.validate_message("vuoro/v1/demo/reply/k-1", {**ERR, "error": {"code": "x"}})
    with pytest.raises(ValueError):  # no usable ok flag: no schema to pick
        schemas.validate_message("vuoro/v1/demo/reply/k-1", {**ERR, "ok": "false"})
    with pytest.raises(LookupError):
        schemas.validate_message("vuoro/v1/demo/lamp", {"v": 1})


def test_the_topics_of_the_code_have_schemas() -> None:
    t = p.Topics
    assert schemas.schema_for_topic(t.cmd("demo", "kiosk-demo-1", "ticket")) == "cmd-ticket"
    assert schemas.schema_for_topic(t.reply("demo", "desk-demo-1"), True) == "reply-ok"
    assert schemas.schema_for_topic(t.display_state("demo")) == "state-display"
    assert schemas.schema_for_topic(t.desk_state("demo", "1")) == "state-desk"
    assert schemas.schema_for_topic(t.event_called("demo")) == "event-called"
    assert schemas.schema_for_topic(t.config("demo", "display-demo-1")) == "config-device"
    assert schemas.schema_for_topic(t.status("demo", "display-demo-1")) == "status-device"
    assert schemas.schema_for_topic(t.SCHEDULER_STATUS) == "status-scheduler"
    for verb in p.VERBS:
        name = schemas.schema_for_topic(t.cmd("demo", "desk-demo-1", verb))
        assert name is not None and p.SCHEMA_MODELS[name] is p.COMMAND_MODELS[verb]


DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
EXAMPLE = re.compile(
    r"^`(vuoro/v1/[^`]+)`(?P<note>[^\n]*)\n```json\n(?P<body>.*?)\n```", re.M | re.S
)


def test_the_examples_in_docs_protocol_md_validate() -> None:
    """Every example of docs/protocol.md ("`topic`" then a JSON block) fits its schema,
    except those marked invalid, which their schema refuses."""
    examples = list(EXAMPLE.finditer(DOC.read_text(encoding="utf-8")))
    seen = set()
    for m in examples:
        topic, body = m.group(1), json.loads(m.group("body"))
        if "invalid" in m.group("note"):
            ok = body.get("ok")
            name = schemas.schema_for_topic(topic, ok if isinstance(ok, bool) else None)
            assert name is not None and schemas.errors(name, body), m.group(0)
        else:
            seen.add(schemas.validate_message(topic, body))
    assert seen == set(p.SCHEMA_MODELS), "docs/protocol.md lacks examples of some schemas"
