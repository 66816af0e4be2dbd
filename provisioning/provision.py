"""`vuoro provision`: a site's broker security and its devices, for the field technician.

The provisioning folder (default `/etc/vuoro/provision`, mode 0700) holds:

    provision.toml            site, broker address, the scheduler's web address and key file
    ca.pem, ca.key            the installation's certificate authority
    broker.pem, broker.key    the broker's TLS certificate (signed by the CA)
    admin.secret              the broker admin's password (dynamic-security commands)
    scheduler.secret          the scheduler's MQTT password
    dynamic-security.json     the plugin's FIRST state (install it once; the broker owns it)
    mosquitto-vuoro.conf      the broker's settings (a /etc/mosquitto/conf.d snippet)
    devices.json              every device made here: role, site, desks, dates. No secrets.

A device's password exists in two places only: the broker (hashed) and the device's
config folder written to its SD card. Nothing here logs or prints a secret.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware_common import protocol as p
from provisioning import pki
from provisioning.cli import DEFAULT_STATE, ROLES
from provisioning.dynsec import (
    ADMIN_USER,
    RESERVED_USERS,
    DynSecAdmin,
    DynSecError,
    find_plugin,
    initial_state,
    mosquitto_conf,
    tls_context,
)
from provisioning.label import make_label
from provisioning.scheduler_api import SchedulerApi, SchedulerApiError

DEVICE_DIR = "/etc/vuoro"  # where the image's first-boot unit puts the card's files
DEFAULT_PRINTER = "usb:0x04b8:0x0e28"  # Epson TM-T20III (docs/hardware.md); --printer to change


class ProvisionError(Exception):
    """A problem the technician can act on (worded for them)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _q(value: str) -> str:
    """A TOML basic string."""
    return json.dumps(value, ensure_ascii=False)


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


@dataclass
class Settings:
    site: str
    broker_host: str
    broker_port: int = 8883
    admin_host: str = ""  # where this tool reaches the broker (default: broker_host)
    web: str = ""
    api_key_file: str = ""

    @property
    def reach(self) -> str:
        return self.admin_host or self.broker_host


@dataclass
class Provisioner:
    state: Path = DEFAULT_STATE
    _settings: Settings | None = field(default=None, repr=False)
    scheduler_error: str = ""  # why `devices()` could not ask the scheduler, if it could not

    # ------------------------------------------------------------------ the folder

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            path = self.state / "provision.toml"
            if not path.exists():
                raise ProvisionError(
                    f"{self.state}: not a provisioning folder (no provision.toml); "
                    "run `vuoro provision init` first or give --state"
                )
            data = tomllib.loads(path.read_text())
            try:
                self._settings = Settings(
                    site=data["site"]["site"],
                    broker_host=data["broker"]["host"],
                    broker_port=int(data["broker"].get("port", 8883)),
                    admin_host=data["broker"].get("admin_host", ""),
                    web=data.get("scheduler", {}).get("web", ""),
                    api_key_file=data.get("scheduler", {}).get("api_key_file", ""),
                )
            except KeyError as exc:
                raise ProvisionError(f"{path}: missing {exc}") from None
        return self._settings

    def _save_settings(self, s: Settings) -> None:
        text = [
            "# vuoro provision: this installation (see `vuoro provision --help`)",
            "[site]",
            f"site = {_q(s.site)}            # the default site of `vuoro provision add`",
            "",
            "[broker]",
            f"host = {_q(s.broker_host)}     # as devices dial it (in the certificate)",
            f"port = {s.broker_port}",
            f"admin_host = {_q(s.admin_host)}  # where this tool reaches it ('' = host)",
            "",
            "[scheduler]",
            f"web = {_q(s.web)}              # '' = do not tell the scheduler (edit its config)",
            f"api_key_file = {_q(s.api_key_file)}  # a key with role admin ([web] api_keys)",
            "",
        ]
        (self.state / "provision.toml").write_text("\n".join(text))
        self._settings = s

    def _registry(self) -> dict[str, dict[str, Any]]:
        path = self.state / "devices.json"
        if not path.exists():
            return {}
        return dict(json.loads(path.read_text()).get("devices", {}))

    def _save_registry(self, devices: dict[str, dict[str, Any]]) -> None:
        path = self.state / "devices.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"devices": devices}, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    def _secret(self, name: str) -> str:
        try:
            return (self.state / name).read_text().strip()
        except FileNotFoundError:
            raise ProvisionError(f"{self.state / name}: missing (was `init` run here?)") from None

    # ------------------------------------------------------------------ init

    def init(
        self,
        *,
        site: str,
        broker_names: list[str],
        port: int = 8883,
        admin_host: str = "",
        web: str = "",
        api_key_file: str = "",
        force: bool = False,
    ) -> dict[str, Any]:
        """Make the CA, the broker certificate and credentials, and the broker settings."""
        if not p.SITE_RE.match(site):
            raise ProvisionError(f"site {site!r}: use a-z, 0-9 and dashes (like 'kuopio')")
        if not broker_names:
            raise ProvisionError("give the broker's host name(s) or address(es): --broker")
        if (self.state / "ca.key").exists() and not force:
            raise ProvisionError(
                f"{self.state} already has a CA; devices trust it. Use --force only to start "
                "the whole installation over (every device must then be provisioned again)"
            )
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)
        ca_pem, ca_key = pki.make_ca(self.state, site)
        pki.make_server_cert(self.state, ca_pem, ca_key, broker_names)
        admin_pw, sched_pw = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        _write_secret(self.state / "admin.secret", admin_pw)
        _write_secret(self.state / "scheduler.secret", sched_pw)
        dyn = self.state / "dynamic-security.json"
        dyn.write_text(json.dumps(initial_state(admin_pw, sched_pw), indent=1) + "\n")
        dyn.chmod(0o600)
        try:
            plugin = find_plugin()
        except DynSecError:
            plugin = Path("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so")
        conf = mosquitto_conf(
            plugin=plugin,
            state_file=Path("/var/lib/mosquitto/dynamic-security.json"),
            ca=Path("/etc/mosquitto/certs/vuoro-ca.pem"),
            cert=Path("/etc/mosquitto/certs/vuoro-broker.pem"),
            key=Path("/etc/mosquitto/certs/vuoro-broker.key"),
            port=port,
        )
        (self.state / "mosquitto-vuoro.conf").write_text(conf)
        self._save_settings(
            Settings(
                site=site,
                broker_host=broker_names[0],
                broker_port=port,
                admin_host=admin_host,
                web=web,
                api_key_file=api_key_file,
            )
        )
        if not (self.state / "devices.json").exists():
            self._save_registry({})
        return {
            "state": str(self.state),
            "site": site,
            "broker": {"names": broker_names, "port": port},
            "files": sorted(f.name for f in self.state.iterdir()),
            "install": install_commands(self.state),
        }

    # ------------------------------------------------------------------ devices

    def _admin(self) -> DynSecAdmin:
        s = self.settings
        return DynSecAdmin(
            s.reach, s.broker_port, self._secret("admin.secret"), self.state / "ca.pem"
        )

    def _api(self) -> SchedulerApi | None:
        s = self.settings
        if not s.web:
            return None
        if not s.api_key_file:
            raise ProvisionError("provision.toml: [scheduler] web is set but api_key_file is not")
        try:
            key = Path(s.api_key_file).read_text().strip()
        except OSError as exc:
            raise ProvisionError(
                f"scheduler api_key_file {s.api_key_file}: {exc.strerror}"
            ) from None
        return SchedulerApi(s.web, key)

    def next_id(self, role: str, site: str) -> str:
        known = set(self._registry())
        n = 1
        while f"{role}-{site}-{n}" in known:
            n += 1
        return f"{role}-{site}-{n}"

    def add(
        self,
        role: str,
        *,
        out: Path,
        site: str | None = None,
        desks: list[str] | None = None,
        device: str | None = None,
        layout: str | None = None,
        offline_numbers: str | None = None,
        printer: str | None = None,
        reader: str | None = None,
        tell_scheduler: bool = True,
    ) -> dict[str, Any]:
        """Create a device: broker credentials and ACL, the scheduler's entry, its files."""
        if role not in ROLES:
            raise ProvisionError(f"role {role!r}: one of {', '.join(ROLES)}")
        site = site or self.settings.site
        if not p.SITE_RE.match(site):
            raise ProvisionError(f"site {site!r}: use a-z, 0-9 and dashes")
        desks = desks or []
        if role == "desk" and not desks:
            raise ProvisionError("a desk unit needs its desk: --desk 3")
        if role != "desk" and desks:
            raise ProvisionError("--desk is for desk units only")
        registry = self._registry()
        device = device or self.next_id(role, site)
        if not p.DEVICE_ID_RE.match(device):
            raise ProvisionError(f"device id {device!r}: a-z, 0-9, dashes, like 'kiosk-kuopio-1'")
        if device in RESERVED_USERS:
            raise ProvisionError(f"{device!r} is reserved for the broker's own accounts")
        if device in registry:
            raise ProvisionError(
                f"{device} already exists ({registry[device]['role']} at "
                f"{registry[device]['site']}); use `rotate` for new credentials"
            )
        password = secrets.token_urlsafe(24)
        api = self._api() if tell_scheduler else None
        told = False
        try:
            if api is not None:
                api.add_device(
                    site, device, role, desks=desks, layout=layout, offline_numbers=offline_numbers
                )
                told = True
            with self._admin() as admin:
                admin.add_device(role, site, device, password)
        except (DynSecError, SchedulerApiError) as exc:
            if told and api is not None:
                try:
                    api.delete_device(site, device)
                except SchedulerApiError:
                    pass
            raise ProvisionError(f"{device} not added: {exc}") from None
        finally:
            if api is not None:
                api.close()
        entry = {"role": role, "site": site, "desks": desks, "created": _now(), "rotated": None}
        entry["revoked"] = None
        entry["scheduler"] = told
        registry[device] = entry
        self._save_registry(registry)
        files = self.write_config(
            device, password, out, layout=layout, printer=printer, reader=reader
        )
        return {
            "id": device,
            "role": role,
            "site": site,
            "desks": desks,
            "scheduler": told,
            "files": [str(f) for f in files],
        }

    def _entry(self, device: str) -> dict[str, Any]:
        entry = self._registry().get(device)
        if entry is None:
            raise ProvisionError(f"{device}: no such device here (see `vuoro provision list`)")
        return entry

    def rotate(
        self,
        device: str,
        *,
        out: Path,
        layout: str | None = None,
        printer: str | None = None,
        reader: str | None = None,
    ) -> dict[str, Any]:
        """New password (the old one stops working at once) and a fresh config folder."""
        entry = self._entry(device)
        if entry.get("revoked"):
            raise ProvisionError(f"{device} was revoked on {entry['revoked']}; add a new device")
        password = secrets.token_urlsafe(24)
        try:
            with self._admin() as admin:
                admin.set_password(device, password)
        except DynSecError as exc:
            raise ProvisionError(f"{device}: credentials not changed: {exc}") from None
        registry = self._registry()
        registry[device]["rotated"] = _now()
        self._save_registry(registry)
        files = self.write_config(
            device, password, out, layout=layout, printer=printer, reader=reader
        )
        return {
            "id": device,
            "rotated": registry[device]["rotated"],
            "files": [str(f) for f in files],
        }

    def revoke(self, device: str) -> dict[str, Any]:
        """Delete the device at the broker (disconnected and refused at once) and scheduler."""
        entry = self._entry(device)
        try:
            with self._admin() as admin:
                admin.remove_device(device)
        except DynSecError as exc:
            raise ProvisionError(f"{device}: not revoked: {exc}") from None
        told = False
        api = self._api() if entry.get("scheduler") else None
        if api is not None:
            try:
                api.delete_device(entry["site"], device)
                told = True
            except SchedulerApiError as exc:
                if exc.status != 404:
                    raise ProvisionError(
                        f"{device}: refused by the broker now, but the scheduler still lists it: "
                        f"{exc}; run `vuoro provision revoke {device}` again"
                    ) from None
            finally:
                api.close()
        registry = self._registry()
        registry[device]["revoked"] = _now()
        self._save_registry(registry)
        return {"id": device, "revoked": registry[device]["revoked"], "scheduler": told}

    # ------------------------------------------------------------------ files

    def write_config(
        self,
        device: str,
        password: str,
        out: Path,
        *,
        layout: str | None = None,
        printer: str | None = None,
        reader: str | None = None,
    ) -> list[Path]:
        """Write `<out>/vuoro/{role}.toml`, `ca.pem` and `mqtt.secret` (e.g. the SD card's
        boot partition; the image copies them to /etc/vuoro on boot)."""
        entry = self._entry(device)
        role, site = entry["role"], entry["site"]
        s = self.settings
        folder = out / "vuoro"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProvisionError(f"{folder}: cannot write: {exc.strerror}") from None
        lines = [
            f"# {device}: written by `vuoro provision` on {_now()}",
            "[device]",
            f"id = {_q(device)}",
            f"site = {_q(site)}",
            "",
            "[mqtt]",
            f"host = {_q(s.broker_host)}",
            f"port = {s.broker_port}",
            "tls = true",
            f"ca_file = {_q(DEVICE_DIR + '/ca.pem')}",
            f"password_file = {_q(DEVICE_DIR + '/mqtt.secret')}",
            "",
            f"[{role}]",
        ]
        if role == "kiosk":
            lines += [
                f"printer = {_q(printer or DEFAULT_PRINTER)}",
                f"reader = {_q(reader or 'pcsc')}",
                'outbox = "/var/lib/vuoro/kiosk-outbox.db"',
                "fullscreen = true",
            ]
        elif role == "display":
            lines += [f"layout = {_q(layout or 'auto')}", "fullscreen = true", "announce = true"]
        else:
            lines += [f"desk = {_q(entry['desks'][0])}"]
        cfg = folder / f"{role}.toml"
        cfg.write_text("\n".join(lines) + "\n")
        ca = folder / "ca.pem"
        shutil.copyfile(self.state / "ca.pem", ca)
        secret = folder / "mqtt.secret"
        _write_secret(secret, password)
        (folder / "role").write_text(role + "\n")
        return [cfg, ca, secret, folder / "role"]

    def label(self, device: str, path: Path) -> Path:
        entry = self._entry(device)
        return make_label(
            path,
            device=device,
            role=entry["role"],
            site=entry["site"],
            desks=entry.get("desks") or None,
            broker=self.settings.broker_host,
        )

    # ------------------------------------------------------------------ status

    def statuses(self, quiet_s: float = 0.5, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
        """Every device's retained status message, read over MQTT as the admin."""
        s = self.settings
        got: dict[str, dict[str, Any]] = {}
        last = [time.monotonic()]
        subscribed = threading.Event()
        refused: list[str] = []

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if rc.is_failure:
                refused.append(str(rc))
                subscribed.set()
                return
            client.subscribe(f"{p.PREFIX}/+/status/+", qos=1)

        def on_subscribe(*_a: Any) -> None:
            last[0] = time.monotonic()
            subscribed.set()

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            device = msg.topic.rsplit("/", 1)[-1]
            try:
                body = json.loads(msg.payload) if msg.payload else {}
            except ValueError:
                body = {"invalid": True}
            if isinstance(body, dict):
                got[device] = body
            last[0] = time.monotonic()

        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{ADMIN_USER}-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(ADMIN_USER, self._secret("admin.secret"))
        c.tls_set_context(tls_context(self.state / "ca.pem"))
        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        try:
            c.connect(s.reach, s.broker_port, keepalive=30)
        except OSError as exc:
            raise ProvisionError(
                f"cannot reach the broker at {s.reach}:{s.broker_port}: {exc}"
            ) from None
        c.loop_start()
        try:
            if not subscribed.wait(timeout):
                raise ProvisionError(f"the broker at {s.reach}:{s.broker_port} did not answer")
            if refused:
                raise ProvisionError(f"the broker refused the admin login: {refused[0]}")
            while time.monotonic() - last[0] < quiet_s:
                time.sleep(0.05)
        finally:
            c.disconnect()
            c.loop_stop()
        return got

    def devices(self) -> list[dict[str, Any]]:
        """The devices made here, with their live status (and the scheduler's view)."""
        status = self.statuses()
        sched: dict[str, dict[str, Any]] = {}
        sched_error = ""
        api = None
        try:
            api = self._api()
            if api is not None:
                sched = {d["id"]: d for d in api.devices()}
        except (SchedulerApiError, ProvisionError) as exc:
            sched_error = str(exc)
        finally:
            if api is not None:
                api.close()
        out = []
        for device, entry in sorted(self._registry().items()):
            st = status.get(device, {})
            row: dict[str, Any] = {
                "id": device,
                "role": entry["role"],
                "site": entry["site"],
                "desks": entry.get("desks", []),
                "state": _state(entry, st),
                "online": bool(st.get("online")) and not entry.get("revoked"),
                "version": st.get("version"),
                "printer": st.get("printer"),
                "reader": st.get("reader"),
                "revoked": entry.get("revoked"),
            }
            if self.settings.web:
                row["in_scheduler"] = device in sched if not sched_error else None
                if device in sched and sched[device].get("last_seen"):
                    row["last_seen"] = sched[device]["last_seen"]
            out.append(row)
        self.scheduler_error = sched_error
        return out

    def check(self, device: str) -> dict[str, Any]:
        """One device: online, version, printer, reader; `problems` lists what is wrong."""
        entry = self._entry(device)
        st = self.statuses().get(device, {})
        problems = []
        if entry.get("revoked"):
            problems.append(f"revoked on {entry['revoked']}")
        elif not st:
            problems.append("has never connected (no status at the broker)")
        elif not st.get("online"):
            problems.append("offline")
        if entry["role"] == "kiosk" and st.get("online"):
            if st.get("printer") not in (None, "ok"):
                problems.append(f"printer {st.get('printer')}")
            if st.get("reader") not in (None, "ok"):
                problems.append(f"card reader {st.get('reader')}")
        return {
            "id": device,
            "role": entry["role"],
            "site": entry["site"],
            "desks": entry.get("desks", []),
            "state": _state(entry, st),
            "online": bool(st.get("online")),
            "version": st.get("version"),
            "printer": st.get("printer"),
            "reader": st.get("reader"),
            "ok": not problems,
            "problems": problems,
        }


def _state(entry: dict[str, Any], status: dict[str, Any]) -> str:
    if entry.get("revoked"):
        return "revoked"
    if not status:
        return "never-seen"
    return "online" if status.get("online") else "offline"


def install_commands(state: Path) -> list[str]:
    """What to run on the broker's machine (Debian's mosquitto package) after `init`."""
    return [
        "install -d -m 0755 /etc/mosquitto/certs",
        f"install -m 0644 {state}/ca.pem /etc/mosquitto/certs/vuoro-ca.pem",
        f"install -m 0644 {state}/broker.pem /etc/mosquitto/certs/vuoro-broker.pem",
        f"install -m 0640 -g mosquitto {state}/broker.key /etc/mosquitto/certs/vuoro-broker.key",
        f"install -m 0600 -o mosquitto {state}/dynamic-security.json "
        "/var/lib/mosquitto/dynamic-security.json",
        f"install -m 0644 {state}/mosquitto-vuoro.conf /etc/mosquitto/conf.d/vuoro.conf",
        "systemctl restart mosquitto",
    ]
