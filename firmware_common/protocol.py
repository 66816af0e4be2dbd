"""The Vuoro MQTT protocol, version 1, as code.

Topic builders, the payload models of every message in docs/protocol.md, and the error
codes. The JSON Schema files under docs/schemas/ are generated from these models
(`python -m firmware_common.schemas --write`), and tests check that every payload the code
sends validates against them.

Models accept unknown fields (the contract lets later versions add optional fields) and
are strict about the types of the fields they know.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

PROTOCOL_VERSION = 1
PREFIX = "vuoro/v1"
MAX_PAYLOAD = 64 * 1024

DEVICE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SITE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
LANGS = ("fi", "sv", "en")

DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_RE.pattern)]
SiteId = Annotated[str, StringConstraints(pattern=SITE_RE.pattern)]
Lang = Literal["fi", "sv", "en"]
Role = Literal["kiosk", "display", "desk"]

KIOSK_VERBS = frozenset({"ticket", "checkin"})
DESK_VERBS = frozenset({"next", "recall", "start", "finish", "noshow", "transfer", "open", "close"})
VERBS = KIOSK_VERBS | DESK_VERBS
ROLE_VERBS: dict[str, frozenset[str]] = {
    "kiosk": KIOSK_VERBS,
    "desk": DESK_VERBS,
    "display": frozenset(),
}

# Error codes of PROTOCOL.md, plus the ones this implementation adds (marked "added").
ERROR_CODES = (
    "bad_request",
    "unknown_service",
    "not_allowed",
    "site_closed",
    "queue_closed",
    "reservation_not_found",
    "too_early",
    "too_late",
    "nothing_waiting",
    "no_current_ticket",
    "desk_closed",
    "bad_state",
    "unknown_queue",  # added: transfer to a queue the site does not have
    "unknown_desk",  # added: a desk id the site does not have
    "queue_full",  # added: the queue reached its configured maximum or ran out of numbers
    "internal_error",  # added: the scheduler failed; nothing was changed, try again
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def rfc3339(ts: datetime) -> str:
    """UTC timestamp with millisecond precision and a Z suffix."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


# ---------------------------------------------------------------------------- topics


class Topics:
    """Topic builders. Every topic of the protocol is made here and nowhere else."""

    @staticmethod
    def cmd(site: str, device: str, verb: str) -> str:
        return f"{PREFIX}/{site}/cmd/{device}/{verb}"

    @staticmethod
    def cmd_filter(site: str = "+") -> str:
        return f"{PREFIX}/{site}/cmd/+/+"

    @staticmethod
    def reply(site: str, device: str) -> str:
        return f"{PREFIX}/{site}/reply/{device}"

    @staticmethod
    def display_state(site: str) -> str:
        return f"{PREFIX}/{site}/state/display"

    @staticmethod
    def desk_state(site: str, desk: str) -> str:
        return f"{PREFIX}/{site}/state/desk/{desk}"

    @staticmethod
    def state_filter(site: str) -> str:
        return f"{PREFIX}/{site}/state/#"

    @staticmethod
    def event_called(site: str) -> str:
        return f"{PREFIX}/{site}/event/called"

    @staticmethod
    def event_filter(site: str) -> str:
        return f"{PREFIX}/{site}/event/#"

    @staticmethod
    def config(site: str, device: str) -> str:
        return f"{PREFIX}/{site}/config/{device}"

    @staticmethod
    def status(site: str, device: str) -> str:
        return f"{PREFIX}/{site}/status/{device}"

    SCHEDULER_STATUS = f"{PREFIX}/scheduler/status"


def parse_cmd_topic(topic: str) -> tuple[str, str, str] | None:
    """`vuoro/v1/{site}/cmd/{device}/{verb}` -> (site, device, verb), or None."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != "vuoro" or parts[1] != "v1" or parts[3] != "cmd":
        return None
    site, device, verb = parts[2], parts[4], parts[5]
    if not SITE_RE.match(site) or not DEVICE_ID_RE.match(device):
        return None
    return site, device, verb


# ---------------------------------------------------------------------------- payloads


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    v: Literal[1] = 1

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=False)

    def to_bytes(self) -> bytes:
        return json.dumps(self.dump(), ensure_ascii=False, separators=(",", ":")).encode()


class Names(BaseModel):
    """A text in the three languages."""

    model_config = ConfigDict(extra="forbid", strict=True)
    fi: str
    sv: str
    en: str


# ----- commands (device -> scheduler)


class Command(Payload):
    id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class TicketCmd(Command):
    service: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    lang: Lang
    priority: bool = False


class CheckinCmd(Command):
    by: Literal["code", "hetu", "card"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    lang: Lang


class DeskCmd(Command):
    desk: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class TransferCmd(DeskCmd):
    queue: Annotated[str, StringConstraints(min_length=1, max_length=64)]


COMMAND_MODELS: dict[str, type[Command]] = {
    "ticket": TicketCmd,
    "checkin": CheckinCmd,
    "next": DeskCmd,
    "recall": DeskCmd,
    "start": DeskCmd,
    "finish": DeskCmd,
    "noshow": DeskCmd,
    "transfer": TransferCmd,
    "open": DeskCmd,
    "close": DeskCmd,
}


# ----- replies (scheduler -> device)


class Appointment(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    code: str
    start: str
    resource: str | None = None


class TicketInfo(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    number: Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9]{3}$")]
    queue: str
    service: str
    position: Annotated[int, Field(ge=0)]
    eta_min: Annotated[int, Field(ge=0)]
    issued_at: str
    status_url: str
    appointment: Appointment | None = None
    priority: bool = False  # added


DeskStatus = Literal["closed", "open", "calling", "serving"]


class DeskStateInfo(BaseModel):
    """The desk part of a desk verb's reply (added): what `state/desk/{desk}` now says."""

    model_config = ConfigDict(extra="allow", strict=True)
    desk: str
    status: DeskStatus
    ticket: str | None
    waiting: Annotated[int, Field(ge=0)]


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
    message: Names


class OkReply(Payload):
    id: str
    ok: Literal[True] = True
    ticket: TicketInfo | None = None
    desk: DeskStateInfo | None = None
    finished: str | None = None  # added: the number a `next` finished, if any


class ErrorReply(Payload):
    id: str
    ok: Literal[False] = False
    error: ErrorInfo


# ----- state and events (scheduler -> everyone)


class CalledEntry(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    number: str
    desk: str
    at: str
    recall: bool


class QueueEntry(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: str
    name: Names
    waiting: Annotated[int, Field(ge=0)]
    eta_min: Annotated[int, Field(ge=0)]


class DisplayState(Payload):
    seq: Annotated[int, Field(ge=0)]
    at: str
    open: bool
    called: Annotated[list[CalledEntry], Field(max_length=8)]
    queues: list[QueueEntry]
    message: Names | None = None


class DeskState(Payload):
    status: DeskStatus
    ticket: str | None
    waiting: Annotated[int, Field(ge=0)]


class CalledEvent(Payload):
    number: str
    desk: str
    recall: bool
    at: str
    lang: Lang


class KioskService(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: str
    name: Names
    provider: str
    queue: str
    walk_in: bool
    appointments: bool
    open: bool


class DeviceConfig(Payload):
    site: SiteId
    role: Role
    languages: list[Lang]
    # kiosk
    services: list[KioskService] | None = None
    # desk
    desk: str | None = None
    queues: list[str] | None = None
    # display
    layout: str | None = None


class SchedulerStatus(Payload):
    online: bool


class DeviceStatus(Payload):
    online: bool
    role: Role | None = None
    version: str | None = None
    printer: Literal["ok", "paper_low", "paper_out", "error", "absent"] | None = None
    reader: Literal["ok", "absent"] | None = None


# Every message of the protocol, by the name of its schema file in docs/schemas/.
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "cmd-ticket": TicketCmd,
    "cmd-checkin": CheckinCmd,
    "cmd-desk": DeskCmd,
    "cmd-transfer": TransferCmd,
    "reply-ok": OkReply,
    "reply-error": ErrorReply,
    "state-display": DisplayState,
    "state-desk": DeskState,
    "event-called": CalledEvent,
    "config-device": DeviceConfig,
    "status-scheduler": SchedulerStatus,
    "status-device": DeviceStatus,
}


class BadPayload(Exception):
    """A payload that cannot be answered (not JSON, not an object, or no usable id)."""


def decode(payload: bytes) -> dict[str, Any]:
    """Bytes -> JSON object, or BadPayload."""
    if len(payload) > MAX_PAYLOAD:
        raise BadPayload(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadPayload(f"not UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadPayload("not a JSON object")
    return data


def validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
