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
TICKET_NUMBER_RE = re.compile(r"^[A-Z][0-9]{3}$")
TIMESTAMP_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$")
LANGS = ("fi", "sv", "en")

DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_RE.pattern)]
SiteId = Annotated[str, StringConstraints(pattern=SITE_RE.pattern)]
Lang = Literal["fi", "sv", "en"]
Role = Literal["kiosk", "display", "desk"]

KIOSK_VERBS = frozenset({"ticket", "checkin"})
DESK_VERBS = frozenset(
    {"next", "call", "recall", "start", "finish", "noshow", "transfer", "open", "close"}
)
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
    "ticket_not_waiting",  # added: `call` of a number that is not waiting for this desk
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
    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    v: Literal[1] = 1
    """Protocol version: 1."""

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=False)

    def to_bytes(self) -> bytes:
        return json.dumps(self.dump(), ensure_ascii=False, separators=(",", ":")).encode()


class Names(BaseModel):
    """A text in the three languages."""

    model_config = ConfigDict(extra="forbid", strict=True, use_attribute_docstrings=True)
    fi: str
    """Finnish."""
    sv: str
    """Swedish."""
    en: str
    """English."""


# Ticket numbers: the queue's letter and three digits, e.g. "A012".
TicketNumber = Annotated[str, StringConstraints(pattern=TICKET_NUMBER_RE.pattern)]
# Timestamps: RFC 3339, UTC, with the Z suffix (fractions of a second optional).
Timestamp = Annotated[
    str,
    StringConstraints(pattern=TIMESTAMP_RE.pattern),
    Field(json_schema_extra={"format": "date-time"}),
]


# ----- commands (device -> scheduler)


class Command(Payload):
    id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    """Idempotency key (a UUID4), unique per device for at least 24 hours: a repeated id
    gets the first reply again and changes nothing twice."""


class OfflineTicket(BaseModel):
    """A ticket the kiosk issued on its own (see `TicketCmd.offline`)."""

    model_config = ConfigDict(extra="forbid", strict=True, use_attribute_docstrings=True)
    number: TicketNumber
    """The number printed on the ticket, from the kiosk's `offline_numbers` range."""
    issued_at: Timestamp
    """When the kiosk issued it: the ticket's place in its queue."""


class TicketCmd(Command):
    service: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Service id, one of the kiosk config's `services[].id`."""
    lang: Lang
    """The customer's language; the ticket and its announcements use it."""
    priority: bool = False
    """A priority ticket (served before the others of its queue); default false."""
    offline: OfflineTicket | None = None
    """(Added) A number the kiosk gave while the scheduler did not answer, from the
    kiosk's `offline_numbers` range: the ticket gets this number and its issue time."""
    supersedes: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    """(Added) The id of this kiosk's earlier `ticket` command that went unanswered: if
    it got through after all, its ticket takes the offline number instead of a second
    ticket being made; if it arrives later, it gets this command's reply."""


class CheckinCmd(Command):
    by: Literal["code", "hetu", "card"]
    """What `value` is: a booking code, a Finnish personal identity code, or a card."""
    value: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    """The booking code, identity code or card identifier."""
    lang: Lang
    """The customer's language."""


class DeskCmd(Command):
    desk: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    """Desk id, one of the desk unit's config `desks` (its `desk` in the demo)."""


class TransferCmd(DeskCmd):
    queue: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Id of the queue the customer is sent to."""


class CallCmd(DeskCmd):
    number: TicketNumber
    """The waiting ticket to call (e.g. "A012"), chosen by the advisor (added verb)."""


COMMAND_MODELS: dict[str, type[Command]] = {
    "ticket": TicketCmd,
    "checkin": CheckinCmd,
    "next": DeskCmd,
    "call": CallCmd,
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
    """The reservation a checked-in ticket belongs to."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    code: str
    """Booking code."""
    start: Timestamp
    """Start of the appointment."""
    resource: str | None = None
    """Who or what the appointment is with (e.g. an advisor), or null."""


class TicketInfo(BaseModel):
    """A ticket, as the `ticket`, `checkin`, `next` and `recall` replies carry it."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    number: TicketNumber
    """The number shown and announced: the queue's letter and three digits."""
    queue: str
    """Id of the queue the ticket waits in."""
    service: str
    """Service id."""
    position: Annotated[int, Field(ge=0)]
    """People ahead of this ticket in its queue (0 once called)."""
    eta_min: Annotated[int, Field(ge=0)]
    """Estimated wait in minutes (0 once called)."""
    issued_at: Timestamp
    """When the ticket was issued."""
    status_url: str
    """The mobile page that follows this ticket live (e.g. a QR code on the printout)."""
    appointment: Appointment | None = None
    """The reservation of a checked-in ticket; null for walk-in tickets."""
    priority: bool = False  # added
    """(Added) A priority ticket."""


DeskStatus = Literal["closed", "open", "calling", "serving"]


class DeskStateInfo(BaseModel):
    """The desk part of a desk verb's reply (added): what `state/desk/{desk}` now says."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    desk: str
    """Desk id."""
    status: DeskStatus
    """The desk's state."""
    ticket: TicketNumber | None
    """Number of the desk's current (calling or serving) ticket, or null."""
    waiting: Annotated[int, Field(ge=0)]
    """Tickets waiting that this desk may serve."""
    appointments: Annotated[int, Field(ge=0)] | None = None
    """(Added) Where an advisor who takes bookings sits: their checked-in customers
    waiting. Absent at other desks."""


class ErrorInfo(BaseModel):
    """Why a command was refused."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
    """Error code; a device treats a code it does not know as a general failure."""
    message: Names
    """Text to show, in the three languages."""


class OkReply(Payload):
    id: str
    """The command's id."""
    ok: Literal[True] = True
    """Always true: the command was carried out."""
    ticket: TicketInfo | None = None
    """The issued, checked-in, called or current ticket; null when a desk verb leaves
    none (`open`, `close`, or a `next` that only finished one)."""
    desk: DeskStateInfo | None = None
    """(Added, desk verbs) The desk's state after the command."""
    finished: TicketNumber | None = None  # added: the number a `next` finished, if any
    """(Added, `next`) Number of the ticket this `next` finished as served, or null."""


class ErrorReply(Payload):
    id: str
    """The command's id."""
    ok: Literal[False] = False
    """Always false: the command was refused and changed nothing."""
    error: ErrorInfo
    """What went wrong."""


# ----- state and events (scheduler -> everyone)


class CalledEntry(BaseModel):
    """One call shown on the lobby display."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    number: TicketNumber
    """Ticket number."""
    desk: str
    """Name of the desk to go to, as shown."""
    at: Timestamp
    """When it was called (or recalled)."""
    recall: bool
    """True for a recall."""


class QueueEntry(BaseModel):
    """One queue on the lobby display."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    id: str
    """Queue id."""
    name: Names
    """Queue name."""
    waiting: Annotated[int, Field(ge=0)]
    """Tickets waiting in the queue."""
    eta_min: Annotated[int, Field(ge=0)]
    """Estimated wait of a new ticket, in minutes."""


class DisplayState(Payload):
    seq: Annotated[int, Field(ge=0)]
    """Increases by one with every snapshot: a display ignores one older than it shows."""
    at: Timestamp
    """When the snapshot was made."""
    open: bool
    """Whether the site is open now."""
    called: Annotated[list[CalledEntry], Field(max_length=8)]
    """Recent calls, newest first, at most 8; a number shows once."""
    queues: list[QueueEntry]
    """Every queue of the site."""
    message: Names | None = None
    """A notice to show (e.g. a disruption), or null."""


class DeskState(Payload):
    status: DeskStatus
    """The desk's state."""
    ticket: TicketNumber | None
    """Number of the desk's current (calling or serving) ticket, or null."""
    waiting: Annotated[int, Field(ge=0)]
    """Tickets waiting that this desk may serve."""
    appointments: Annotated[int, Field(ge=0)] | None = None
    """(Added) Where an advisor who takes bookings sits: their checked-in customers
    waiting. Absent at other desks."""


class CalledEvent(Payload):
    number: TicketNumber
    """Ticket number to show and announce."""
    desk: str
    """Name of the desk to go to, to show and announce."""
    recall: bool
    """True for a recall of the same ticket."""
    at: Timestamp
    """When it was called."""
    lang: Lang
    """The customer's language: announce in it."""


class KioskService(BaseModel):
    """One service the kiosk offers."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    id: str
    """Service id, for the `ticket` command."""
    name: Names
    """Service name."""
    provider: str
    """The organisation that provides the service (e.g. `kela`)."""
    queue: str
    """Id of the queue its tickets wait in."""
    walk_in: bool
    """Walk-in tickets exist for this service."""
    appointments: bool
    """The service takes reservations (check-in at the kiosk)."""
    open: bool
    """Walk-in tickets can be taken now."""
    instructions: Names | None = None
    """(Added) What to bring or do, shown with the ticket; or null."""
    prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]$")] | None = None
    """(Added) The letter of the service's queue (offline numbers start with it)."""
    opens: Timestamp | None = None
    """(Added) While closed for walk-ins: when it next opens (null if not known)."""


class OfflineRange(BaseModel):
    """A kiosk's own numbers (in every queue) for tickets given while offline."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)
    first: Annotated[int, Field(ge=1, le=999)]
    """The first number of the range, e.g. 901."""
    last: Annotated[int, Field(ge=1, le=999)]
    """The last number of the range, e.g. 949."""


class DeviceConfig(Payload):
    site: SiteId
    """Site slug."""
    role: Role
    """The device's role."""
    languages: list[Lang]
    """Languages the device offers, in order (the first is the default)."""
    site_name: Names | None = None
    """(Added) The site's name."""
    # kiosk
    services: list[KioskService] | None = None
    """(kiosk) The services to offer."""
    offline_numbers: OfflineRange | None = None
    """(kiosk, added) The kiosk's own number range for offline mode; absent: none."""
    # desk
    desk: str | None = None
    """(desk) The desk's name as shown, e.g. "3"."""
    queues: list[str] | None = None
    """(desk) Queue ids of the desk's work profile."""
    desks: list[str] | None = None
    """(Added, desk) Ids of the desks this unit commands; `desk` and `queues` describe
    the first."""
    queue_names: dict[str, Names] | None = None
    """(Added, desk) The names of all the site's queues by id (for transfers)."""
    # display
    layout: str | None = None
    """(display) Screen layout, e.g. `landscape` or `portrait`."""


class SchedulerStatus(Payload):
    online: bool
    """Whether the scheduler is running (false: its last will)."""
    version: str | None = None
    """(Added) The scheduler's software version."""


class DeviceStatus(Payload):
    online: bool
    """Whether the device is connected (false: its last will or a clean stop)."""
    role: Role | None = None
    """The device's role."""
    version: str | None = None
    """The device's software version."""
    printer: Literal["ok", "paper_low", "paper_out", "error", "absent"] | None = None
    """(kiosk) Ticket printer state."""
    reader: Literal["ok", "absent"] | None = None
    """(kiosk) Card reader state."""


# Every message of the protocol, by the name of its schema file in docs/schemas/.
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "cmd-ticket": TicketCmd,
    "cmd-checkin": CheckinCmd,
    "cmd-desk": DeskCmd,
    "cmd-transfer": TransferCmd,
    "cmd-call": CallCmd,
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
