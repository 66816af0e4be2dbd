"""The staff pages' way into the scheduler's worker thread.

The site aggregates (`SiteState`) belong to the worker thread alone (scheduler/app.py).
The web server's threads never touch them: they hand the worker

- a **command** (`command`): the very payload a desk unit would publish, run by the same
  `Scheduler.handle_batch` in the worker's next batch, committed with it; the reply comes
  back to the page instead of going out over MQTT. So "next" from the advisor's tablet and
  "next" from the desk unit's button are one handler, one rule, one idempotency key space;
- a **function** (`call`): `fn(scheduler)` run by the worker between batches, e.g. to read
  a snapshot for a page or to take a site's new configuration (`Scheduler.replace_site`).
  What it returns as `Outgoing` messages is published.

Both return a `concurrent.futures.Future`; the async pages wrap it with
`asyncio.wrap_future`. A worker that does not answer within the timeout (stopping, or
stuck) gives `BridgeTimeout`, which the pages show as "try again".
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from firmware_common import protocol as p

if TYPE_CHECKING:
    from scheduler.domain.model import DeviceDef
    from scheduler.service import Incoming, Outgoing, Scheduler

TIMEOUT_S = 10.0


class BridgeTimeout(Exception):
    """The scheduler's worker did not answer in time."""


@dataclass(frozen=True, eq=False)
class WebCommand:
    """An Incoming's token for a staff page's command: the reply goes to `future`."""

    key: tuple[str, str]  # (device, id)
    future: Future[dict[str, Any]]


@dataclass(frozen=True, eq=False)
class WebCall:
    """A function for the worker thread to run between batches."""

    fn: Callable[[Scheduler], Any]
    future: Future[Any]
    publishes: bool = False  # fn returns (value, [Outgoing, ...]): those are published


class WorkerBridge:
    def __init__(self, inbox: queue.Queue[Incoming]) -> None:
        self._inbox = inbox

    def command(
        self, site: str, actor: DeviceDef, verb: str, body: dict[str, Any]
    ) -> Future[dict[str, Any]]:
        """Run `verb` for `actor` at `site` as the worker's next command; the future gets
        the reply (`{"v": 1, "id": ..., "ok": ..., ...}`)."""
        from scheduler.service import Incoming

        cmd_id = p.new_id()
        fut: Future[dict[str, Any]] = Future()
        payload = p.encode({"v": 1, "id": cmd_id, **body})
        token = WebCommand((actor.id, cmd_id), fut)
        self._inbox.put(Incoming(p.Topics.cmd(site, actor.id, verb), payload, token, actor=actor))
        return fut

    def call(self, fn: Callable[[Scheduler], Any]) -> Future[Any]:
        """Run `fn(scheduler)` on the worker thread; the future gets what it returns, or
        its exception."""
        from scheduler.service import Incoming

        fut: Future[Any] = Future()
        self._inbox.put(Incoming("", b"", WebCall(fn, fut)))
        return fut

    def call_publishing(self, fn: Callable[[Scheduler], tuple[Any, list[Outgoing]]]) -> Future[Any]:
        """As `call`, for a change: `fn` returns (value, messages); the worker publishes
        the messages (and subscribes to a new site's commands) and the future gets value."""
        from scheduler.service import Incoming

        fut: Future[Any] = Future()
        self._inbox.put(Incoming("", b"", WebCall(fn, fut, publishes=True)))
        return fut


def settle(batch_tokens: list[Any], replies: dict[tuple[str, str], dict[str, Any]]) -> None:
    """After a batch: give each staff page's command its reply (the worker thread)."""
    for tok in batch_tokens:
        if isinstance(tok, WebCommand) and not tok.future.done():
            reply = replies.get(tok.key)
            if reply is None:  # dropped as malformed: the page built it, so a bug
                reply = {
                    "v": 1,
                    "id": tok.key[1],
                    "ok": False,
                    "error": {"code": "internal_error", "message": {}},
                }
            tok.future.set_result(reply)
