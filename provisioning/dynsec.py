"""Mosquitto's dynamic-security plugin: the site broker's users and ACLs, changed live.

Why this plugin (and not password + ACL files with SIGHUP): a device added with
`vuoro provision add` can connect at once, and a revoked one is disconnected by the
broker at once (the plugin kicks a deleted or disabled client), with no restart and no
signal to a process on another machine. The plugin keeps its state in one JSON file;
`initial_state` writes the first version of it (admin, scheduler, no devices) and from
then on the broker owns it and `DynSecAdmin` changes it over MQTT
(`$CONTROL/dynamic-security/v1`).

The ACLs are not written here: every device gets ONE role named after itself whose ACL
entries are `acl_for(role, site, device)` of provisioning/broker.py (the same rules the
private broker's ACL file has), translated: PROTOCOL.md's "read" = subscribe to the
filter and receive on it; "write" = publish to it. The default ACL access refuses
publishing, subscribing AND receiving anything not granted.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from provisioning.broker import SCHEDULER_USER, acl_for, free_port

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"
ADMIN_USER = "vuoro-admin"
ADMIN_ROLE = "vuoro-admin"
RESERVED_USERS = {ADMIN_USER, SCHEDULER_USER}


class DynSecError(Exception):
    """The broker refused a dynamic-security command, or could not be reached."""


def find_plugin() -> Path:
    """Where Debian (any architecture) or a source build put the plugin."""
    candidates = [
        *sorted(glob.glob("/usr/lib/*-linux-gnu/mosquitto_dynamic_security.so")),
        "/usr/lib/mosquitto_dynamic_security.so",
        "/usr/local/lib/mosquitto_dynamic_security.so",
    ]
    for c in candidates:
        if Path(c).exists():
            return Path(c)
    raise DynSecError(
        "mosquitto_dynamic_security.so not found: install Debian's `mosquitto` package (2.0+)"
    )


def password_fields(password: str, *, iterations: int = 101) -> dict[str, Any]:
    """The plugin's stored form of a password (PBKDF2-SHA512, 12-byte salt)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": iterations,
    }


def role_acls(role: str, site: str, device: str) -> list[dict[str, Any]]:
    """`acl_for`'s (access, topic) pairs as dynamic-security ACL entries."""
    out: list[dict[str, Any]] = []
    for access, topic in acl_for(role, site, device):
        if access in ("read", "readwrite"):
            out.append({"acltype": "subscribePattern", "topic": topic, "allow": True})
            out.append({"acltype": "publishClientReceive", "topic": topic, "allow": True})
        if access in ("write", "readwrite"):
            out.append({"acltype": "publishClientSend", "topic": topic, "allow": True})
    return out


def _admin_acls() -> list[dict[str, Any]]:
    ctl = "$CONTROL/dynamic-security/#"
    return [
        {"acltype": "publishClientSend", "topic": ctl, "allow": True},
        {"acltype": "publishClientReceive", "topic": ctl, "allow": True},
        {"acltype": "subscribePattern", "topic": ctl, "allow": True},
        *role_acls("provisioner", "", ""),
    ]


def initial_state(admin_password: str, scheduler_password: str) -> dict[str, Any]:
    """The plugin's first JSON file: the provisioning admin and the scheduler."""
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [
            {
                "username": ADMIN_USER,
                "textName": "vuoro provision",
                **password_fields(admin_password),
                "roles": [{"rolename": ADMIN_ROLE}],
            },
            {
                "username": SCHEDULER_USER,
                "textName": "vuoro scheduler",
                **password_fields(scheduler_password),
                "roles": [{"rolename": SCHEDULER_USER}],
            },
        ],
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": _admin_acls()},
            {"rolename": SCHEDULER_USER, "acls": role_acls("scheduler", "", "")},
        ],
    }


def mosquitto_conf(
    *,
    plugin: Path,
    state_file: Path,
    ca: Path,
    cert: Path,
    key: Path,
    port: int = 8883,
    bind: str | None = None,
    extra: list[str] | None = None,
) -> str:
    """The site broker's Mosquitto settings (a conf.d snippet, or a whole private file)."""
    lines = [
        "# Generated by `vuoro provision init`: TLS only, no anonymous clients, users and",
        "# ACLs from the dynamic-security plugin (changed live by `vuoro provision`).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"plugin {plugin}",
        f"plugin_opt_config_file {state_file}",
        "max_packet_size 70000",
        "max_queued_messages 100000",
        *(extra or []),
        f"listener {port}{' ' + bind if bind else ''}",
        "use_username_as_clientid true",
        "set_tcp_nodelay true",
        f"cafile {ca}",
        f"certfile {cert}",
        f"keyfile {key}",
        "tls_version tlsv1.2",
        "",
    ]
    return "\n".join(lines)


def tls_context(ca_file: Path | str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


# ---------------------------------------------------------------------------- live admin


class DynSecAdmin:
    """The provisioning admin's MQTT link: send plugin commands, wait for their answers."""

    def __init__(
        self, host: str, port: int, password: str, ca_file: Path | str, *, timeout: float = 10.0
    ) -> None:
        self.timeout = timeout
        self._answers: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._refused: str | None = None
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{ADMIN_USER}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(ADMIN_USER, password)
        c.tls_set_context(tls_context(ca_file))
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *_a: self._subscribed.set()
        c.on_message = self._on_message
        self.client = c
        self.host, self.port = host, port

    def __enter__(self) -> DynSecAdmin:
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            raise DynSecError(
                f"cannot reach the broker at {self.host}:{self.port}: {exc}"
            ) from None
        self.client.loop_start()
        if not self._subscribed.wait(self.timeout):
            self.client.loop_stop()
            why = self._refused or "no answer"
            raise DynSecError(f"broker {self.host}:{self.port} refused the admin login: {why}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._refused = str(rc)
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        with self._cond:
            for r in body.get("responses", []):
                corr = r.get("correlationData")
                if isinstance(corr, str):
                    self._answers[corr] = r
            self._cond.notify_all()

    def run(self, command: str, *, missing_ok: bool = False, **fields: Any) -> dict[str, Any]:
        """Send one command; returns its answer, or raises DynSecError with the reason."""
        corr = uuid.uuid4().hex
        payload = {"commands": [{"command": command, "correlationData": corr, **fields}]}
        self.client.publish(CONTROL_TOPIC, json.dumps(payload), qos=1)
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while corr not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DynSecError(f"{command}: the broker did not answer in {self.timeout} s")
                self._cond.wait(left)
            answer = self._answers.pop(corr)
        error = answer.get("error")
        if error and not (missing_ok and "not found" in str(error).lower()):
            raise DynSecError(f"{command}: {error}")
        return answer

    # The commands provisioning uses

    def add_device(self, role: str, site: str, device: str, password: str) -> None:
        self.run("createRole", rolename=device, acls=role_acls(role, site, device))
        try:
            self.run(
                "createClient",
                username=device,
                password=password,
                textName=f"{role} at {site}",
                roles=[{"rolename": device}],
            )
        except DynSecError:
            self.run("deleteRole", rolename=device, missing_ok=True)
            raise

    def set_password(self, device: str, password: str) -> None:
        self.run("setClientPassword", username=device, password=password)
        # A connected device keeps its session until told otherwise: kick it so that the
        # old password stops working at once (it reconnects with the new one, if it has it).
        self.run("disableClient", username=device)
        self.run("enableClient", username=device)

    def remove_device(self, device: str) -> None:
        """Delete the client (the broker disconnects it at once) and its role."""
        self.run("deleteClient", username=device, missing_ok=True)
        self.run("deleteRole", rolename=device, missing_ok=True)

    def clients(self) -> list[str]:
        answer = self.run("listClients", verbose=False, count=-1, offset=0)
        return list(answer.get("data", {}).get("clients", []))


# ---------------------------------------------------------------------------- private runs


@dataclass
class SiteBroker:
    """A real mosquitto with TLS and the plugin, on a free loopback port (tests, demos).

    It runs the configuration `mosquitto_conf` writes for a site, with the state file and
    certificates of a provisioning folder.
    """

    workdir: Path
    state_file: Path
    ca: Path
    cert: Path
    key: Path
    port: int = 0
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        conf = self.workdir / "mosquitto.conf"
        extra = [
            *(["user root"] if os.geteuid() == 0 else []),
            "persistence true",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        conf.write_text(
            mosquitto_conf(
                plugin=find_plugin(),
                state_file=self.state_file,
                ca=self.ca,
                cert=self.cert,
                key=self.key,
                port=self.port,
                bind=self.host,
                extra=extra,
            )
        )
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        log = (self.workdir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [exe, "-c", str(conf)], stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.workdir / "mosquitto.log").read_text()[-2000:]
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {tail}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
