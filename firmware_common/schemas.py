"""JSON Schema (draft 2020-12) files of the protocol, generated from `protocol.SCHEMA_MODELS`.

    python -m firmware_common.schemas --write   # (re)write docs/schemas/<name>.json
    python -m firmware_common.schemas --check   # exit 1, listing stale files

The files are what third-party device makers validate against, so they describe the
contract of docs/protocol.md as it is sent on the wire. Where the models are lenient
receivers (they default `v`, `ok`, and a few fields the scheduler always sends), the schemas
require the field; requirements that depend on another field (a kiosk's config carries
`services`, a desk's `desk` and `queues`) are added as `if`/`then`.

`schema_for_topic()` names the schema of a message on a topic, and `validate()` checks a
payload against a schema with jsonschema's Draft202012Validator.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from firmware_common import protocol as p

DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_URL = "https://vuoro.fi/schemas/v1/"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "docs" / "schemas"


@dataclass(frozen=True)
class SchemaInfo:
    title: str
    topic: str
    description: str


INFO: dict[str, SchemaInfo] = {
    "cmd-ticket": SchemaInfo(
        "Vuoro v1 command: ticket",
        "vuoro/v1/{site}/cmd/{device}/ticket",
        "A kiosk asks for a walk-in ticket of a service. Reply: a ticket.",
    ),
    "cmd-checkin": SchemaInfo(
        "Vuoro v1 command: checkin",
        "vuoro/v1/{site}/cmd/{device}/checkin",
        "A kiosk checks in a reservation due today. Reply: its ticket.",
    ),
    "cmd-desk": SchemaInfo(
        "Vuoro v1 command: desk verb",
        "vuoro/v1/{site}/cmd/{device}/{verb}, verb one of next, recall, start, finish, "
        "noshow, open, close",
        "A desk unit acts on its desk. Reply: the ticket concerned and the desk's state.",
    ),
    "cmd-transfer": SchemaInfo(
        "Vuoro v1 command: transfer",
        "vuoro/v1/{site}/cmd/{device}/transfer",
        "A desk unit sends its current customer to another queue, keeping ticket number, "
        "priority and arrival time.",
    ),
    "cmd-call": SchemaInfo(
        "Vuoro v1 command: call",
        "vuoro/v1/{site}/cmd/{device}/call",
        "A desk calls a chosen waiting ticket (one of those it may serve), finishing its "
        "current one as next does. Added in v1; the advisor tablet uses it.",
    ),
    "reply-ok": SchemaInfo(
        "Vuoro v1 reply: success",
        "vuoro/v1/{site}/reply/{device} (ok: true)",
        "The scheduler carried out a command. MQTT 5 correlation data: the command's id.",
    ),
    "reply-error": SchemaInfo(
        "Vuoro v1 reply: failure",
        "vuoro/v1/{site}/reply/{device} (ok: false)",
        "The scheduler refused a command; nothing was changed. MQTT 5 correlation data: "
        "the command's id.",
    ),
    "state-display": SchemaInfo(
        "Vuoro v1 state: lobby display",
        "vuoro/v1/{site}/state/display (retained)",
        "The full lobby snapshot; `seq` orders snapshots.",
    ),
    "state-desk": SchemaInfo(
        "Vuoro v1 state: desk",
        "vuoro/v1/{site}/state/desk/{desk} (retained)",
        "One desk's state.",
    ),
    "event-called": SchemaInfo(
        "Vuoro v1 event: called",
        "vuoro/v1/{site}/event/called (not retained)",
        "One call or recall: displays chime and announce on this.",
    ),
    "config-device": SchemaInfo(
        "Vuoro v1 device config",
        "vuoro/v1/{site}/config/{device} (retained)",
        "The device's settings from the scheduler; the fields after `languages` depend on "
        "the role.",
    ),
    "status-scheduler": SchemaInfo(
        "Vuoro v1 scheduler status",
        "vuoro/v1/scheduler/status (retained)",
        'Whether the scheduler runs; its last will is {"v": 1, "online": false}.',
    ),
    "status-device": SchemaInfo(
        "Vuoro v1 device status",
        "vuoro/v1/{site}/status/{device} (retained)",
        "Published by the device on connect and on change; its last will is "
        '{"v": 1, "online": false}.',
    ),
}

# Fields every sender sends although the models default them (the models are lenient
# receivers), by model name; `v` is required at the top level of every payload.
ALWAYS_SENT: dict[str, tuple[str, ...]] = {
    "OkReply": ("ok",),
    "ErrorReply": ("ok",),
    "TicketInfo": ("appointment",),
    "DisplayState": ("message",),
}


def _when(field: str, value: Any, required: dict[str, str]) -> dict[str, Any]:
    """`if field == value then these fields are present with these JSON types`."""
    return {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": {
            "required": list(required),
            "properties": {name: {"type": kind} for name, kind in required.items()},
        },
    }


CONDITIONS: dict[str, list[dict[str, Any]]] = {
    "config-device": [
        _when("role", "kiosk", {"services": "array"}),
        _when("role", "desk", {"desk": "string", "queues": "array"}),
        _when("role", "display", {"layout": "string"}),
    ],
    "status-device": [_when("online", True, {"role": "string", "version": "string"})],
}


class _Generator(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False  # "title": "Eta Min" and the like add nothing to the descriptions


def _require(obj: dict[str, Any], fields: tuple[str, ...]) -> None:
    known = obj.get("properties", {})
    extra = [f for f in fields if f in known and f not in obj.get("required", [])]
    if extra:
        obj["required"] = [f for f in known if f in extra or f in obj.get("required", [])]


def _tidy(node: Any) -> None:
    """One line per description (field docstrings wrap in the source)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                node[key] = " ".join(value.split())
            else:
                _tidy(value)
    elif isinstance(node, list):
        for item in node:
            _tidy(item)


def build(name: str) -> dict[str, Any]:
    """The JSON Schema of one payload, as written to docs/schemas/<name>.json."""
    model = p.SCHEMA_MODELS[name]
    raw = model.model_json_schema(schema_generator=_Generator)
    info = INFO.get(name)
    if info is None:
        raise KeyError(f"schema {name!r} has no title and topic in firmware_common.schemas.INFO")
    _require(raw, ("v", *ALWAYS_SENT.get(model.__name__, ())))
    for def_name, sub in raw.get("$defs", {}).items():
        _require(sub, ALWAYS_SENT.get(def_name, ()))
    if name in CONDITIONS:
        raw["allOf"] = CONDITIONS[name]
    raw.pop("title", None)
    raw.pop("description", None)
    _tidy(raw)
    head = {
        "$schema": DIALECT,
        "$id": f"{BASE_URL}{name}.json",
        "title": info.title,
        "description": f"Topic: {info.topic}. {info.description}",
    }
    defs = raw.pop("$defs", None)
    out = {**head, **raw}
    if defs is not None:
        out["$defs"] = defs
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@cache
def schemas() -> dict[str, dict[str, Any]]:
    return {name: build(name) for name in p.SCHEMA_MODELS}


# ---------------------------------------------------------------------------- topics

_CMD_SCHEMAS = {
    "ticket": "cmd-ticket",
    "checkin": "cmd-checkin",
    "transfer": "cmd-transfer",
    "call": "cmd-call",
}


def schema_for_topic(topic: str, ok: bool | None = None) -> str | None:
    """The schema name of a message on `topic`, or None for a topic of no schema.

    A reply's schema depends on its `ok` flag: pass it (a ValueError without it).
    """
    if topic == p.Topics.SCHEDULER_STATUS:
        return "status-scheduler"
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "vuoro" or parts[1] != "v1":
        return None
    if not p.SITE_RE.match(parts[2]):
        return None
    kind, rest = parts[3], parts[4:]
    if kind == "cmd" and len(rest) == 2 and p.DEVICE_ID_RE.match(rest[0]):
        verb = rest[1]
        if verb not in p.VERBS:
            return None
        return _CMD_SCHEMAS.get(verb, "cmd-desk")
    if kind == "reply" and len(rest) == 1 and p.DEVICE_ID_RE.match(rest[0]):
        if ok is None:
            raise ValueError("a reply's schema depends on its ok flag")
        return "reply-ok" if ok else "reply-error"
    if kind == "state" and rest == ["display"]:
        return "state-display"
    if kind == "state" and len(rest) == 2 and rest[0] == "desk" and rest[1]:
        return "state-desk"
    if kind == "event" and rest == ["called"]:
        return "event-called"
    if kind == "config" and len(rest) == 1 and p.DEVICE_ID_RE.match(rest[0]):
        return "config-device"
    if kind == "status" and len(rest) == 1 and p.DEVICE_ID_RE.match(rest[0]):
        return "status-device"
    return None


# ---------------------------------------------------------------------------- validation


@cache
def validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schemas()[name], format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, payload: Any) -> list[str]:
    """Every way `payload` breaks schema `name`, as "path: message" lines (empty: valid)."""
    from jsonschema.exceptions import best_match

    out = []
    for top in sorted(validator(name).iter_errors(payload), key=lambda e: list(e.path)):
        err = best_match([top]) or top  # into anyOf: "not a string" beats "not any of"
        where = "/".join(str(x) for x in err.absolute_path) or "(payload)"
        out.append(f"{where}: {err.message}")
    return out


def validate(name: str, payload: Any) -> None:
    """Raise jsonschema.ValidationError (the most relevant one) if `payload` breaks `name`."""
    from jsonschema.exceptions import best_match

    err = best_match(validator(name).iter_errors(payload))
    if err is not None:
        raise err


def validate_message(topic: str, payload: dict[str, Any]) -> str:
    """Validate a message by its topic; returns the schema name (LookupError: no schema)."""
    ok = payload.get("ok") if isinstance(payload, dict) else None
    name = schema_for_topic(topic, ok if isinstance(ok, bool) else None)
    if name is None:
        raise LookupError(f"no schema for topic {topic!r}")
    validate(name, payload)
    return name


# ---------------------------------------------------------------------------- files


def stale(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Schema files that differ from the models, are missing, or belong to no model."""
    out = []
    for name, schema in schemas().items():
        path = directory / f"{name}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(schema):
            out.append(path)
    if directory.is_dir():
        out.extend(
            path for path in sorted(directory.glob("*.json")) if path.stem not in p.SCHEMA_MODELS
        )
    return out


def write(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Bring the schema files up to date; returns the files written or removed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale(directory)
    for path in changed:
        if path.stem in p.SCHEMA_MODELS:
            path.write_text(render(schemas()[path.stem]), encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m firmware_common.schemas",
        description="Generate or check the protocol's JSON Schema files.",
    )
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write docs/schemas/*.json")
    mode.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="schema directory")
    args = ap.parse_args(argv)
    if args.write:
        for path in write(args.dir):
            print(f"{'wrote' if path.exists() else 'removed'} {path}")
        return 0
    bad = stale(args.dir)
    for path in bad:
        print(f"stale: {path}", file=sys.stderr)
    if bad:
        print("run: python -m firmware_common.schemas --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
