"""`vuoro provision` against a real Mosquitto with TLS and the dynamic-security plugin.

The broker runs the configuration `provision init` writes (mosquitto_conf), with the
plugin state file and certificates it made, on a free loopback port. Devices connect
with the files written for their SD card, read through each role's own config loader.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from PIL import Image

from firmware_common.mqtt import DeviceClient, MqttSettings
from provisioning.broker import free_port
from provisioning.dynsec import SiteBroker
from provisioning.pki import cert_names
from provisioning.provision import Provisioner, ProvisionError
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Site:
    prov: Provisioner
    broker: SiteBroker
    state: Path


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    state = tmp_path / "provision"
    prov = Provisioner(state)
    port = free_port()
    prov.init(site="kuopio", broker_names=["127.0.0.1", "localhost"], port=port)
    bdir = tmp_path / "broker"
    bdir.mkdir()
    dyn = bdir / "dynamic-security.json"
    shutil.copyfile(state / "dynamic-security.json", dyn)
    broker = SiteBroker(
        workdir=bdir,
        state_file=dyn,
        ca=state / "ca.pem",
        cert=state / "broker.pem",
        key=state / "broker.key",
        port=port,
    )
    broker.start()
    yield Site(prov, broker, state)
    broker.stop()


def device_settings(out: Path, role: str, **over: Any) -> MqttSettings:
    """The [mqtt] table of a written config, read by the role's own loader, with the
    /etc/vuoro paths pointed at the written folder (as the image's boot unit copies it)."""
    env = {
        "VUORO_MQTT_CA_FILE": str(out / "vuoro" / "ca.pem"),
        "VUORO_MQTT_PASSWORD_FILE": str(out / "vuoro" / "mqtt.secret"),
    }
    cfg = out / "vuoro" / f"{role}.toml"
    if role == "kiosk":
        from kiosk.config import KioskSettings as Model
    elif role == "display":
        from display.config import DisplaySettings as Model  # type: ignore[assignment]
    else:
        from desk.config import DeskConfig as Model  # type: ignore[assignment]
    from firmware_common import config as fc

    settings = fc.load(Model, cfg, env)
    return settings.mqtt.model_copy(update={"reconnect_max_s": 1, **over})


def start_device(
    out: Path, role: str, device: str, site: str = "kuopio", **status: Any
) -> DeviceClient:
    c = DeviceClient(
        device_settings(out, role), device_id=device, site=site, role=role, version="9.9.9"
    )
    c.status.update(status)
    c.start()
    assert c.connected.wait(10), f"{device} did not connect over TLS with its written files"
    return c


def raw_login(port: int, ca: Path, user: str | None, password: str | None, tls: bool = True) -> str:
    """Connect once and return the broker's answer (reason code name)."""
    done = threading.Event()
    result: list[str] = []
    c = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=user or "", protocol=mqtt.MQTTv5
    )
    if user is not None:
        c.username_pw_set(user, password)
    if tls:
        c.tls_set_context(ssl.create_default_context(cafile=str(ca)))

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        result.append(str(rc))
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        result.append(f"disconnected: {rc}")
        done.set()

    c.on_connect, c.on_disconnect = on_connect, on_disconnect
    try:
        c.connect("127.0.0.1", port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        return f"error: {exc}"
    c.loop_start()
    done.wait(5)
    c.disconnect()
    c.loop_stop()
    return result[0] if result else "no answer"


def test_init_makes_a_tls_only_broker_without_anonymous_access(site: Site) -> None:
    state = site.state
    assert cert_names(state / "broker.pem") == ["localhost", "127.0.0.1"]
    for secret in ("ca.key", "broker.key", "admin.secret", "scheduler.secret"):
        assert (state / secret).stat().st_mode & 0o077 == 0, f"{secret} readable by others"
    conf = (state / "mosquitto-vuoro.conf").read_text()
    assert "allow_anonymous false" in conf and "listener 8883" not in conf  # our free port
    # The certificate chain verifies (hostname 127.0.0.1 against the IP SAN).
    ctx = ssl.create_default_context(cafile=str(state / "ca.pem"))
    import socket

    with (
        socket.create_connection(("127.0.0.1", site.broker.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # Anonymous and wrong passwords are refused; plain MQTT on the TLS port does not work.
    assert raw_login(site.broker.port, state / "ca.pem", None, None) == "Not authorized"
    assert raw_login(site.broker.port, state / "ca.pem", "scheduler", "wrong") == "Not authorized"
    assert raw_login(site.broker.port, state / "ca.pem", "scheduler", None, tls=False) != "Success"
    sched_pw = (state / "scheduler.secret").read_text().strip()
    assert raw_login(site.broker.port, state / "ca.pem", "scheduler", sched_pw) == "Success"
    # A second init would replace the CA every device trusts: refused without --force.
    with pytest.raises(ProvisionError, match="already has a CA"):
        site.prov.init(site="kuopio", broker_names=["127.0.0.1"])


def test_add_writes_a_config_each_role_accepts_and_connects_at_once(
    site: Site, tmp_path: Path
) -> None:
    prov = site.prov
    k = prov.add("kiosk", out=tmp_path / "k", printer="network:10.0.0.5", tell_scheduler=False)
    d = prov.add("desk", desks=["3"], out=tmp_path / "d", tell_scheduler=False)
    s = prov.add("display", out=tmp_path / "s", layout="portrait", tell_scheduler=False)
    assert (k["id"], d["id"], s["id"]) == ("kiosk-kuopio-1", "desk-kuopio-1", "display-kuopio-1")
    # Each role's loader accepts its file as written (paths as on the device).
    from desk.config import load_desk_config
    from display.config import load_settings as load_display
    from kiosk.config import load_settings as load_kiosk

    kc = load_kiosk(tmp_path / "k" / "vuoro" / "kiosk.toml")
    assert (kc.device.id, kc.kiosk.printer, kc.mqtt.tls, kc.mqtt.port) == (
        "kiosk-kuopio-1",
        "network:10.0.0.5",
        True,
        site.broker.port,
    )
    assert kc.mqtt.ca_file == "/etc/vuoro/ca.pem"
    assert kc.mqtt.password_file == "/etc/vuoro/mqtt.secret"
    assert load_desk_config(tmp_path / "d" / "vuoro" / "desk.toml").desk.desk == "3"
    assert load_display(tmp_path / "s" / "vuoro" / "display.toml").display.layout == "portrait"
    secret = tmp_path / "k" / "vuoro" / "mqtt.secret"
    assert secret.stat().st_mode & 0o077 == 0
    # The password is nowhere in the provisioning folder (only its hash, at the broker).
    pw = secret.read_text().strip()
    for f in site.state.iterdir():
        assert pw not in f.read_text(errors="replace"), f"device password found in {f.name}"
    # The broker knows the new devices without a restart.
    pid = site.broker.proc.pid if site.broker.proc else None
    clients = [start_device(tmp_path / "k", "kiosk", "kiosk-kuopio-1", printer="ok", reader="ok")]
    clients.append(start_device(tmp_path / "d", "desk", "desk-kuopio-1"))
    clients.append(start_device(tmp_path / "s", "display", "display-kuopio-1"))
    assert site.broker.proc is not None and site.broker.proc.pid == pid
    try:
        rows = {r["id"]: r for r in prov.devices()}
        assert set(rows) == {"kiosk-kuopio-1", "desk-kuopio-1", "display-kuopio-1"}
        assert all(r["state"] == "online" and r["version"] == "9.9.9" for r in rows.values())
        assert rows["kiosk-kuopio-1"]["printer"] == "ok"
        chk = prov.check("kiosk-kuopio-1")
        assert chk["ok"] and chk["online"] and chk["problems"] == []
        clients[0].set_status(printer="paper_out")
        wait_until(lambda: prov.check("kiosk-kuopio-1")["printer"] == "paper_out", 5, "status")
        assert prov.check("kiosk-kuopio-1")["problems"] == ["printer paper_out"]
        # A device id is used once; a second add under it is refused with the reason.
        with pytest.raises(ProvisionError, match="already exists"):
            prov.add("kiosk", device="kiosk-kuopio-1", out=tmp_path / "x", tell_scheduler=False)
        with pytest.raises(ProvisionError, match="needs its desk"):
            prov.add("desk", out=tmp_path / "x", tell_scheduler=False)
    finally:
        for c in clients:
            c.stop()
    wait_until(lambda: prov.check("desk-kuopio-1")["state"] == "offline", 5, "offline status")


def test_revoke_disconnects_and_refuses_at_once(site: Site, tmp_path: Path) -> None:
    prov = site.prov
    prov.add("desk", desks=["1"], out=tmp_path / "d", tell_scheduler=False)
    dev = start_device(tmp_path / "d", "desk", "desk-kuopio-1")
    try:
        lost = threading.Event()
        dev.conn.on_disconnect(lost.set)
        res = prov.revoke("desk-kuopio-1")
        assert res["revoked"]
        assert lost.wait(3), "the revoked device was not disconnected by the broker"
        pw = (tmp_path / "d" / "vuoro" / "mqtt.secret").read_text().strip()
        ca = site.state / "ca.pem"
        assert raw_login(site.broker.port, ca, "desk-kuopio-1", pw) == "Not authorized"
        assert not dev.connected.wait(2.5), "the revoked device got back in"
        chk = prov.check("desk-kuopio-1")
        assert not chk["ok"] and chk["state"] == "revoked"
        with pytest.raises(ProvisionError, match="revoked"):
            prov.rotate("desk-kuopio-1", out=tmp_path / "d2")
    finally:
        dev.stop()


def test_rotate_refuses_the_old_password_and_kicks_the_device(site: Site, tmp_path: Path) -> None:
    prov = site.prov
    prov.add("kiosk", out=tmp_path / "old", tell_scheduler=False)
    old_pw = (tmp_path / "old" / "vuoro" / "mqtt.secret").read_text().strip()
    dev = start_device(tmp_path / "old", "kiosk", "kiosk-kuopio-1")
    try:
        lost = threading.Event()
        dev.conn.on_disconnect(lost.set)
        prov.rotate("kiosk-kuopio-1", out=tmp_path / "new")
        new_pw = (tmp_path / "new" / "vuoro" / "mqtt.secret").read_text().strip()
        assert new_pw != old_pw
        assert lost.wait(3), "a device with the old password stayed connected"
        ca = site.state / "ca.pem"
        assert raw_login(site.broker.port, ca, "kiosk-kuopio-1", old_pw) == "Not authorized"
    finally:
        dev.stop()
    dev2 = start_device(tmp_path / "new", "kiosk", "kiosk-kuopio-1")
    dev2.stop()


def test_cli_json_and_text_and_label(site: Site, tmp_path: Path) -> None:
    vuoro = [sys.executable, "-m", "vuoro.cli", "provision"]
    st = ["--state", str(site.state)]

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*vuoro, *args, *st], capture_output=True, text=True, cwd=ROOT)
        assert (r.returncode == 0) == ok, r.stdout + r.stderr
        return r

    label = tmp_path / "label.png"
    r = run(
        "add",
        "desk",
        "--desk",
        "2",
        "--out",
        str(tmp_path / "sd"),
        "--label",
        str(label),
        "--no-scheduler",
        "--json",
    )
    res = json.loads(r.stdout)
    assert res["id"] == "desk-kuopio-1" and res["desks"] == ["2"] and res["scheduler"] is False
    pw = (tmp_path / "sd" / "vuoro" / "mqtt.secret").read_text().strip()
    assert pw not in r.stdout + r.stderr, "the password was printed"
    with Image.open(label) as img:
        assert img.size == (696, 300)
        # Black QR modules on the left, text on the right: both drawn.
        gray = img.convert("L")
        assert gray.crop((12, 12, 288, 288)).getextrema() == (0, 255)
        assert gray.crop((320, 20, 690, 280)).getextrema()[0] < 100
    text = run("list").stdout
    assert "desk-kuopio-1" in text and "never-seen" in text
    rows = json.loads(run("list", "--json").stdout)["devices"]
    assert [(d["id"], d["state"]) for d in rows] == [("desk-kuopio-1", "never-seen")]
    # check exits 1 for a device that has a problem, and says which.
    r = run("check", "desk-kuopio-1", ok=False)
    assert "never connected" in r.stdout
    r = run("check", "nope-1", "--json", ok=False)
    assert "no such device" in json.loads(r.stdout)["error"]
    r = run("revoke", "desk-kuopio-1")
    assert "revoked" in r.stdout
    # A folder that was never initialised: a clear message, exit 1.
    r = subprocess.run(
        [*vuoro, "list", "--state", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 1 and "vuoro provision init" in r.stderr


def test_end_to_end_with_the_scheduler_admin_api(site: Site, tmp_path: Path) -> None:
    """The real scheduler (demo site, on the TLS site broker, web server with an admin
    key) learns a provisioned device without a restart: the device gets its retained
    config and its commands are answered; revoked, it is gone at both ends."""
    import secrets as _secrets

    import httpx

    from firmware_common import protocol as p
    from scheduler.app import SchedulerApp
    from scheduler.config import DEMO_SITE, SchedulerConfig, load_config

    key = _secrets.token_urlsafe(24)
    data = load_config(DEMO_SITE).model_dump(by_alias=True)
    data["scheduler"]["database"] = f"sqlite:///{tmp_path / 'v.db'}"
    web_port = free_port()
    data["web"].update(
        host="127.0.0.1", port=web_port, api_keys=[{"name": "t", "role": "admin", "key": key}]
    )
    data["mqtt"].update(
        host="127.0.0.1",
        port=site.broker.port,
        username="scheduler",
        password=(site.state / "scheduler.secret").read_text().strip(),
        password_file=None,
        tls=True,
        ca_file=str(site.state / "ca.pem"),
    )
    app = SchedulerApp(SchedulerConfig.model_validate(data))
    runner = threading.Thread(target=app.run, daemon=True)
    runner.start()
    web = f"http://127.0.0.1:{web_port}"
    dev: DeviceClient | None = None
    try:
        assert app.ready.wait(30), "the scheduler did not connect to the TLS broker"

        def api_up() -> bool:
            try:
                r = httpx.get(
                    f"{web}/api/v1/admin/devices", headers={"Authorization": f"Bearer {key}"}
                )
                return r.status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(api_up, 20, "the admin API")
        keyfile = tmp_path / "admin.key"
        keyfile.write_text(key + "\n")
        text = (site.state / "provision.toml").read_text()
        text = text.replace('web = ""', f'web = "{web}"').replace(
            'api_key_file = ""', f'api_key_file = "{keyfile}"'
        )
        (site.state / "provision.toml").write_text(text)
        prov = Provisioner(site.state)
        # The demo already has kiosk-demo-1: the scheduler's refusal comes through, and the
        # broker login is not made.
        with pytest.raises(ProvisionError, match="device_exists"):
            prov.add("kiosk", site="demo", device="kiosk-demo-1", out=tmp_path / "x")
        res = prov.add("kiosk", site="demo", device="kiosk-demo-9", out=tmp_path / "k")
        assert res["scheduler"] is True
        # The new device connects with its card's files and gets its config at once.
        dev = DeviceClient(
            device_settings(tmp_path / "k", "kiosk"),
            device_id="kiosk-demo-9",
            site="demo",
            role="kiosk",
            version="9.9.9",
        )
        configs: list[dict[str, Any]] = []
        dev.subscribe(p.Topics.config("demo", "kiosk-demo-9"), lambda _t, b, _m: configs.append(b))
        dev.start()
        assert dev.connected.wait(10)
        wait_until(lambda: configs and configs[-1].get("role") == "kiosk", 10, "retained config")
        service = next(
            s["id"] for s in configs[-1]["services"] if s.get("walk_in") and s.get("open")
        )
        reply = dev.request("ticket", {"service": service, "lang": "fi"}, timeout=10)
        assert reply["ok"] is True, reply
        listed = {d["id"]: d for d in prov.devices()}
        assert listed["kiosk-demo-9"]["in_scheduler"] is True
        assert listed["kiosk-demo-9"]["state"] == "online"
        # Revoked: thrown out by the broker, removed from the scheduler.
        lost = threading.Event()
        dev.conn.on_disconnect(lost.set)
        assert prov.revoke("kiosk-demo-9")["scheduler"] is True
        assert lost.wait(3)
        r = httpx.get(f"{web}/api/v1/admin/devices", headers={"Authorization": f"Bearer {key}"})
        assert "kiosk-demo-9" not in {d["id"] for d in r.json()["devices"]}
    finally:
        if dev is not None:
            dev.stop()
        app.stop()
        runner.join(15)
