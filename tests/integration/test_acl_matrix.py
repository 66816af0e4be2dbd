"""ACL proof: every role x every topic of PROTOCOL.md x read/write, against a real Mosquitto.

The expected answer comes from PROTOCOL.md's "Access control" section, written out
again below in the contract's own words (not from `acl_for`, which generates the
broker's rules). Both ways the project configures Mosquitto are checked: the password +
ACL files of the private broker (demo, tests) and the dynamic-security plugin of a
provisioned site (TLS). A write counts as allowed when the broker acknowledges it (MQTT 5
PUBACK reason code) AND an observer receives it; a read when the broker grants the
subscription AND the reader receives what is published there.
"""

from __future__ import annotations

import json
import shutil
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from provisioning.broker import PrivateBroker, free_port
from provisioning.dynsec import DynSecAdmin, SiteBroker
from provisioning.provision import Provisioner

SITE, OTHER = "kuopio", "oulu"
V = "vuoro/v1"
ROLES = ["kiosk", "desk", "display", "scheduler"]
DEVICE = {r: f"{r}-{SITE}-1" for r in ("kiosk", "desk", "display")} | {"scheduler": "scheduler"}


def topics(me: str) -> dict[str, str]:
    """Every topic kind of PROTOCOL.md, as seen from device `me` (a kiosk's, for the
    scheduler): its own, another device's at its site, and another site's."""
    me = me if me != "scheduler" else "kiosk-kuopio-1"
    peer = "kiosk-kuopio-2" if not me.startswith("kiosk") else "desk-kuopio-2"
    return {
        "cmd/own": f"{V}/{SITE}/cmd/{me}/next",
        "cmd/peer": f"{V}/{SITE}/cmd/{peer}/ticket",
        "cmd/own@other-site": f"{V}/{OTHER}/cmd/{me}/ticket",
        "reply/own": f"{V}/{SITE}/reply/{me}",
        "reply/peer": f"{V}/{SITE}/reply/{peer}",
        "config/own": f"{V}/{SITE}/config/{me}",
        "config/peer": f"{V}/{SITE}/config/{peer}",
        "status/own": f"{V}/{SITE}/status/{me}",
        "status/peer": f"{V}/{SITE}/status/{peer}",
        "state/display": f"{V}/{SITE}/state/display",
        "state/desk": f"{V}/{SITE}/state/desk/3",
        "event/called": f"{V}/{SITE}/event/called",
        "state/display@other-site": f"{V}/{OTHER}/state/display",
        "event/called@other-site": f"{V}/{OTHER}/event/called",
        "config/own@other-site": f"{V}/{OTHER}/config/{me}",
        "scheduler/status": f"{V}/scheduler/status",
    }


def contract(role: str, kind: str, access: str) -> bool:
    """PROTOCOL.md, Access control, in its own terms."""
    if role == "scheduler":  # read and write vuoro/v1/#
        return True
    if "@other-site" in kind:  # everything of a device is at its own site
        return False
    if access == "write":
        own_cmd = kind == "cmd/own" and role in ("kiosk", "desk")
        return own_cmd or kind == "status/own"
    reads = {"config/own", "state/display", "state/desk", "event/called", "scheduler/status"}
    if role in ("kiosk", "desk"):
        reads.add("reply/own")
    return kind in reads


# Subscriptions wider than what a device may read: refused too.
WIDE = [f"{V}/#", f"{V}/{SITE}/reply/+", f"{V}/{SITE}/cmd/#", f"{V}/+/state/#", "#"]


@dataclass
class Probe:
    """One raw MQTT 5 connection that records PUBACK and SUBACK reason codes."""

    user: str
    password: str
    port: int
    ca: Path | None
    received: dict[str, list[bytes]] = field(default_factory=dict)
    pubacks: dict[int, int] = field(default_factory=dict)
    subacks: dict[int, list[int]] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.user,
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(self.user, self.password)
        if self.ca:
            c.tls_set_context(ssl.create_default_context(cafile=str(self.ca)))
        up = threading.Event()
        c.on_connect = lambda *a: up.set() if not a[3].is_failure else None
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.connect("127.0.0.1", self.port, keepalive=30)
        c.loop_start()
        assert up.wait(5), f"{self.user} could not log in"
        self.c = c

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self.cond:
            self.pubacks[mid] = rc.value
            self.cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[Any], _p: Any) -> None:
        with self.cond:
            self.subacks[mid] = [rc.value for rc in rcs]
            self.cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.received.setdefault(msg.topic, []).append(msg.payload)
            self.cond.notify_all()

    def wait(self, pred: Any, what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                assert left > 0, f"{self.user}: timed out waiting for {what}"
                self.cond.wait(left)

    def publish_all(self, items: list[tuple[str, bytes]]) -> list[int]:
        """Publish at QoS 1; the PUBACK reason code of each (0 = accepted)."""
        mids = [self.c.publish(t, body, qos=1).mid for t, body in items]
        self.wait(lambda: all(m in self.pubacks for m in mids), "PUBACKs")
        return [self.pubacks[m] for m in mids]

    def subscribe(self, topic: str) -> int:
        """Subscribe (no retained messages); the SUBACK reason code (< 0x80 = granted)."""
        opts = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        _rc, mid = self.c.subscribe(topic, options=opts)
        self.wait(lambda: mid in self.subacks, f"SUBACK of {topic}")
        return self.subacks[mid][0]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@dataclass
class Setup:
    port: int
    ca: Path | None
    passwords: dict[str, str]  # username -> password, for every role + "observer"

    def probe(self, user: str) -> Probe:
        return Probe(user, self.passwords[user], self.port, self.ca)


@pytest.fixture(params=["acl-file", "dynamic-security"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    users = {DEVICE[r]: r for r in ROLES}
    if request.param == "acl-file":
        b = PrivateBroker(tmp_path / "b")
        pw = {u: b.add_user(u, role, site=SITE).password for u, role in users.items()}
        pw["observer"] = b.add_user("observer", "superuser").password
        b.start()
        try:
            yield Setup(b.port, None, pw)
        finally:
            b.stop()
        return
    state = tmp_path / "prov"
    port = free_port()
    prov = Provisioner(state)
    prov.init(site=SITE, broker_names=["127.0.0.1"], port=port)
    (tmp_path / "b").mkdir()
    shutil.copyfile(state / "dynamic-security.json", tmp_path / "b" / "dyn.json")
    sb = SiteBroker(
        tmp_path / "b",
        tmp_path / "b" / "dyn.json",
        state / "ca.pem",
        state / "broker.pem",
        state / "broker.key",
        port=port,
    )
    sb.start()
    try:
        pw = {"scheduler": (state / "scheduler.secret").read_text().strip()}
        admin_pw = (state / "admin.secret").read_text().strip()
        with DynSecAdmin("127.0.0.1", port, admin_pw, state / "ca.pem") as admin:
            for u, role in users.items():
                if role != "scheduler":
                    pw[u] = f"pw-{u}-secret"
                    admin.add_device(role, SITE, u, pw[u])
            pw["observer"] = "observer-secret"
            admin.add_device("superuser", "", "observer", pw["observer"])
        yield Setup(port, state / "ca.pem", pw)
    finally:
        sb.stop()


def test_every_role_every_topic_read_and_write(broker: Setup) -> None:
    observer = broker.probe("observer")
    assert observer.subscribe(f"{V}/#") < 0x80
    got: dict[tuple[str, str, str], bool] = {}
    want: dict[tuple[str, str, str], bool] = {}
    try:
        for role in ROLES:
            me = DEVICE[role]
            kinds = topics(me)
            dev = broker.probe(me)
            try:
                # --- write: PUBACK reason code, and what the observer receives
                items = [
                    (t, json.dumps({"probe": role, "kind": k}).encode()) for k, t in kinds.items()
                ]
                codes = dict(zip(kinds, dev.publish_all(items), strict=True))
                done = f"{V}/{SITE}/status/{me if role != 'scheduler' else 'kiosk-kuopio-1'}"
                sentinel = json.dumps({"done": role}).encode()
                assert dev.publish_all([(done, sentinel)]) == [0]
                observer.wait(lambda d=done, s=sentinel: s in observer.received.get(d, []), "end")
                for k, t in kinds.items():
                    seen = any(
                        json.loads(b).get("probe") == role
                        for b in observer.received.get(t, [])
                        if b != sentinel
                    )
                    allowed = codes[k] == 0
                    assert allowed == seen, f"{role} write {k}: PUBACK {codes[k]} but seen={seen}"
                    got[(role, k, "write")] = allowed
                    want[(role, k, "write")] = contract(role, k, "write")
                # --- read: subscribe to each topic AND to wider filters (a broker may
                # grant those; what counts is what it delivers), then the observer
                # publishes on every topic and we see what reaches the device.
                granted = {k: dev.subscribe(t) < 0x80 for k, t in kinds.items()}
                wide = {w: dev.subscribe(w) < 0x80 for w in WIDE} if role != "scheduler" else {}
                payload = json.dumps({"to": role}).encode()
                assert set(observer.publish_all([(t, payload) for t in kinds.values()])) == {0}
                end = json.dumps({"end": role}).encode()
                observer.publish_all([(f"{V}/scheduler/status", end)])
                dev.wait(
                    lambda e=end, d=dev: e in d.received.get(f"{V}/scheduler/status", []), "end"
                )
                for k, t in kinds.items():
                    delivered = payload in dev.received.get(t, [])
                    if delivered and not any(wide.values()):
                        assert granted[k], f"{role} read {k}: delivered without a subscription"
                    got[(role, k, "read")] = delivered
                    want[(role, k, "read")] = contract(role, k, "read")
                outside = [t for t in dev.received if not t.startswith(f"{V}/")]
                assert not outside, f"{role} received {outside}"
            finally:
                dev.close()
    finally:
        observer.close()
    wrong = sorted(
        f"{r} {a} {k}: broker {got[(r, k, a)]}, contract {w}"
        for (r, k, a), w in want.items()
        if got[(r, k, a)] != w
    )
    assert not wrong, "\n".join(wrong)
    assert len(got) == len(ROLES) * len(topics("x")) * 2
    # The matrix is not trivially all-yes or all-no.
    assert 0 < sum(got.values()) < len(got)


def test_anonymous_clients_are_refused(broker: Setup) -> None:
    done = threading.Event()
    codes: list[str] = []
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if broker.ca:
        c.tls_set_context(ssl.create_default_context(cafile=str(broker.ca)))
    c.on_connect = lambda *a: (codes.append(str(a[3])), done.set())
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        assert done.wait(5)
        assert codes == ["Not authorized"]
    finally:
        c.loop_stop()
