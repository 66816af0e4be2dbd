"""The image recipe's install steps, run for real in a debootstrap chroot of Debian.

images/install-role.sh is what the pi-gen stage runs on Raspberry Pi OS Lite (arm64).
Here it runs unchanged in a Debian root of the host's release and architecture
(debootstrap minbase + the Debian packages of images/packages/, cached; see
tests/support/imageroot.py), then the result is checked: the packages are installed,
the units are enabled (their symlinks) and pass `systemd-analyze verify` with the real
binaries in that root, the boot-partition config written by `vuoro provision` is copied
to /etc/vuoro with the right owners and modes and read, and `vuoro --version` runs.

What this does not prove: booting (the overlay root needs the Pi's initramfs), the
compositor on a real screen, GPIO, and the full dependency set (the venv gets the vuoro
wheel with --no-deps plus only the wheels `vuoro --version` imports).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioning.provision import Provisioner
from tests.support import imageroot
from vuoro import __version__

ROOT = imageroot.ROOT
UNITS = sorted(p.name for p in (ROOT / "systemd").iterdir() if p.suffix in (".service", ".timer"))


PI_CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
    "fsck.repair=yes rootwait resize quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n"
)


@dataclass
class Built:
    root: Path
    role: str
    log: str


def build(role: str, tmp: Path) -> Built:
    tar = imageroot.base_tarball()
    root = imageroot.unpack(tar, tmp / f"root-{role}")
    src = root / "tmp" / "vuoro"
    shutil.copytree(ROOT / "images", src / "images")
    shutil.copytree(ROOT / "systemd", src / "systemd")
    imageroot.wheelhouse(src / "wheels")
    # Raspberry Pi OS's kernel command line, with both kinds of first-boot root growth
    # (older images: init=.../firstboot; newer: the word `resize`): the recipe removes them.
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "cmdline.txt").write_text(PI_CMDLINE)
    r = imageroot.in_chroot(
        root, "bash", "/tmp/vuoro/images/install-role.sh", role, "/tmp/vuoro/wheels", "--no-deps"
    )
    assert r.returncode == 0, (
        f"install-role.sh {role} failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    )
    return Built(root, role, r.stdout + r.stderr)


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    # The ~600 MB root goes to RAM (/dev/shm) when there is room: unpacking and removing
    # it there takes a second instead of many on a busy disk.
    shm = Path("/dev/shm")
    in_ram = shm.is_dir() and shutil.disk_usage(shm).free > 3 * 2**30
    tmp = Path(tempfile.mkdtemp(prefix="vuoro-image-", dir=shm)) if in_ram else None
    tmp = tmp or tmp_path_factory.mktemp("image")
    try:
        yield build("kiosk", tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def link_target(root: Path, link: str) -> str:
    p = root / link.lstrip("/")
    assert p.is_symlink(), f"{link} is not a symlink (unit not enabled/masked)"
    return os.readlink(p)


def test_role_units_enabled_and_system_settings(kiosk: Built) -> None:
    r = kiosk.root
    wants = "/etc/systemd/system/multi-user.target.wants"
    for unit in ("vuoro-kiosk.service", "vuoro-config.service"):
        assert link_target(r, f"{wants}/{unit}") == f"/etc/systemd/system/{unit}"
    assert link_target(r, "/etc/systemd/system/timers.target.wants/vuoro-update.timer").endswith(
        "vuoro-update.timer"
    )
    assert link_target(r, "/etc/systemd/system/sockets.target.wants/pcscd.socket").endswith(
        "pcscd.socket"
    )
    for masked in ("apt-daily.timer", "apt-daily-upgrade.timer", "getty@tty1.service"):
        assert link_target(r, f"/etc/systemd/system/{masked}") == "/dev/null"
    # Only the role's own unit: no display or desk on a kiosk.
    assert not (r / "etc/systemd/system/vuoro-desk.service").exists()
    # Logs in RAM, read-only root, no apt updates into the overlay.
    journald = (r / "etc/systemd/journald.conf.d/vuoro.conf").read_text()
    assert "Storage=volatile" in journald
    assert 'overlayroot="tmpfs' in (r / "etc/overlayroot.local.conf").read_text()
    assert '"0"' in (r / "etc/apt/apt.conf.d/20auto-upgrades").read_text()
    # The packages are really installed in the root.
    q = imageroot.in_chroot(
        r,
        "dpkg-query",
        "-W",
        "-f=${Package} ${Status}\n",
        "overlayroot",
        "cage",
        "pcscd",
        "unattended-upgrades",
        "python3-venv",
    )
    assert q.returncode == 0, q.stderr
    assert q.stdout.count("install ok installed") == 5, q.stdout
    # The service user exists, owns its state folder, and has the device groups.
    passwd = (r / "etc/passwd").read_text()
    assert any(line.startswith("vuoro:") and "nologin" in line for line in passwd.splitlines())
    ids = imageroot.in_chroot(r, "id", "vuoro")
    assert ids.returncode == 0 and "vuoro" in ids.stdout


def test_vuoro_runs_in_the_root(kiosk: Built) -> None:
    r = imageroot.in_chroot(kiosk.root, "/opt/vuoro/venv/bin/vuoro", "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"vuoro {__version__}"
    r = imageroot.in_chroot(kiosk.root, "vuoro", "--version")  # /usr/local/bin link
    assert r.returncode == 0 and __version__ in r.stdout
    # The chroot's own Python is the one running it (not the host's venv).
    r = imageroot.in_chroot(
        kiosk.root, "/opt/vuoro/venv/bin/python", "-c", "import vuoro, sys; print(vuoro.__file__)"
    )
    assert r.stdout.startswith("/opt/vuoro/venv/lib/python3"), r.stdout + r.stderr


def test_boot_partition_config_is_copied_and_read(kiosk: Built, tmp_path: Path) -> None:
    # What `vuoro provision add kiosk --out <boot partition>` writes (the broker side of
    # `add` is tested in test_provision.py; here the files are made by the same code).
    prov = Provisioner(tmp_path / "prov")
    prov.init(site="kuopio", broker_names=["vuoro.kuopio.example"])
    (tmp_path / "prov" / "devices.json").write_text(
        json.dumps(
            {"devices": {"kiosk-kuopio-7": {"role": "kiosk", "site": "kuopio", "desks": []}}}
        )
    )
    boot = kiosk.root / "boot" / "firmware"
    shutil.rmtree(boot / "vuoro", ignore_errors=True)
    prov.write_config("kiosk-kuopio-7", "not-a-real-password-123", boot)
    r = imageroot.in_chroot(
        kiosk.root, "/usr/lib/vuoro/vuoro-config", "/boot/firmware/vuoro", "/etc/vuoro"
    )
    assert r.returncode == 0, r.stderr
    assert "mqtt.secret" in r.stdout and "not-a-real-password" not in r.stdout + r.stderr
    etc = kiosk.root / "etc" / "vuoro"
    secret = etc / "mqtt.secret"
    assert secret.stat().st_mode & 0o777 == 0o640
    gid = int(
        next(
            line.split(":")[2]
            for line in (kiosk.root / "etc/group").read_text().splitlines()
            if line.startswith("vuoro:")
        )
    )
    assert secret.stat().st_gid == gid and secret.stat().st_uid == 0
    # The unit's --config path is the file the boot unit put there; the kiosk's loader
    # accepts it, and the chroot's vuoro reads it.
    unit = (kiosk.root / "etc/systemd/system/vuoro-kiosk.service").read_text()
    assert "--config /etc/vuoro/kiosk.toml" in unit
    from kiosk.config import load_settings

    s = load_settings(etc / "kiosk.toml")
    assert (s.device.id, s.mqtt.host, s.mqtt.port, s.mqtt.tls) == (
        "kiosk-kuopio-7",
        "vuoro.kuopio.example",
        8883,
        True,
    )
    assert s.mqtt.ca_file and (kiosk.root / s.mqtt.ca_file.lstrip("/")).exists()
    code = (
        "from firmware_common.config import read_toml; "
        "c = read_toml('/etc/vuoro/kiosk.toml'); print(c['device']['id'], c['mqtt']['port'])"
    )
    r = imageroot.in_chroot(kiosk.root, "/opt/vuoro/venv/bin/python", "-c", code)
    assert r.returncode == 0 and r.stdout.split() == ["kiosk-kuopio-7", "8883"], r.stderr
    # A card without the folder: a clear error, not a silent empty /etc/vuoro.
    r = imageroot.in_chroot(kiosk.root, "/usr/lib/vuoro/vuoro-config", "/nowhere", "/tmp/x")
    assert r.returncode == 1 and "vuoro provision add" in r.stderr


def test_data_partition_is_set_up(kiosk: Built, tmp_path: Path) -> None:
    """/var/lib/vuoro on the VUORODATA partition: the first-boot unit enabled, its script
    and every tool it needs in the image, the fstab line (as systemd turns it into a
    mount unit), the role unit requiring the mount, and no root growth on first boot.
    The script itself runs against a real disk image in test_data_partition.py."""
    r = kiosk.root
    assert link_target(r, "/etc/systemd/system/local-fs.target.wants/vuoro-data.service") == (
        "/etc/systemd/system/vuoro-data.service"
    )
    assert os.access(r / "usr/lib/vuoro/vuoro-data", os.X_OK)
    tools = "sfdisk partx blkid wipefs mkfs.ext4 e2label findmnt dd sync awk seq getent"
    q = imageroot.in_chroot(r, "sh", "-c", f"for t in {tools}; do command -v $t; done")
    assert q.returncode == 0 and len(q.stdout.split()) == len(tools.split()), q.stdout + q.stderr
    fstab = (r / "etc/fstab").read_text()
    lines = [x for x in fstab.splitlines() if x.startswith("LABEL=VUORODATA")]
    assert len(lines) == 1, fstab
    # What systemd makes of it at boot (the fstab generator of this systemd).
    gen = Path("/usr/lib/systemd/system-generators/systemd-fstab-generator")
    out = tmp_path / "gen"
    dirs = [out / d for d in ("normal", "early", "late")]
    for d in dirs:
        d.mkdir(parents=True)
    env = {**os.environ, "SYSTEMD_FSTAB": str(r / "etc/fstab"), "SYSTEMD_PROC_CMDLINE": ""}
    g = subprocess.run([str(gen), *map(str, dirs)], env=env, capture_output=True, text=True)
    assert g.returncode == 0, g.stderr
    mount = (dirs[0] / "var-lib-vuoro.mount").read_text()
    assert "What=/dev/disk/by-label/VUORODATA" in mount and "Type=ext4" in mount, mount
    assert "Options=noatime,data=journal,nofail" in mount, mount
    assert "Requires=systemd-fsck@" in mount  # checked (journal replayed) before mounting
    timeout = dirs[0] / "dev-disk-by\\x2dlabel-VUORODATA.device.d" / "50-device-timeout.conf"
    assert "JobRunningTimeoutSec=90s" in timeout.read_text()
    # nofail: wanted by local-fs.target, the boot does not wait for it ...
    assert (dirs[0] / "local-fs.target.wants" / "var-lib-vuoro.mount").is_symlink()
    # ... but the role does, and vuoro-data runs before the mount.
    unit = (r / "etc/systemd/system/vuoro-kiosk.service").read_text()
    assert "RequiresMountsFor=/var/lib/vuoro" in unit
    data = (r / "etc/systemd/system/vuoro-data.service").read_text()
    assert "Before=var-lib-vuoro.mount" in data and "DefaultDependencies=no" in data
    # The generated mount unit passes systemd-analyze verify in the image's root.
    shutil.copyfile(dirs[0] / "var-lib-vuoro.mount", r / "etc/systemd/system/var-lib-vuoro.mount")
    try:
        v = subprocess.run(
            [
                imageroot.need("systemd-analyze", "systemd"),
                "verify",
                f"--root={r}",
                "--man=no",
                "/etc/systemd/system/var-lib-vuoro.mount",
            ],
            capture_output=True,
            text=True,
        )
        assert v.returncode == 0 and not (v.stdout + v.stderr).strip(), v.stdout + v.stderr
    finally:
        (r / "etc/systemd/system/var-lib-vuoro.mount").unlink()
    # The root keeps its size: no first-boot resize left on the kernel command line.
    cmdline = (r / "boot/firmware/cmdline.txt").read_text()
    assert "firstboot" not in cmdline and " resize" not in cmdline, cmdline
    assert cmdline == PI_CMDLINE.replace(" resize", "").replace(
        " init=/usr/lib/raspberrypi-sys-mods/firstboot", ""
    )


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify(kiosk: Built, unit: str) -> None:
    """Every unit of systemd/ passes `systemd-analyze verify` in the built root, where
    its binaries (vuoro in the venv, cage) and its user exist."""
    need = imageroot.need("systemd-analyze", "systemd")
    target = kiosk.root / "etc/systemd/system" / unit
    if not target.exists():  # units of other roles and the server's scheduler
        shutil.copyfile(ROOT / "systemd" / unit, target)
        # the scheduler's unit also orders itself after these; absent on a device
    r = subprocess.run(
        [need, "verify", f"--root={kiosk.root}", "--man=no", f"/etc/systemd/system/{unit}"],
        capture_output=True,
        text=True,
    )
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0 and not out, f"systemd-analyze verify {unit}:\n{out}"


def test_units_keep_the_projects_rules() -> None:
    """Type=notify with a watchdog, restart, journald, hardening, device access by role."""
    for name in UNITS:
        if not name.endswith(".service") or name in (
            "vuoro-config.service",
            "vuoro-data.service",
            "vuoro-update.service",
        ):
            continue
        text = (ROOT / "systemd" / name).read_text()
        unit = tomllib_like(text)
        assert unit["Type"] == "notify" and int(unit["WatchdogSec"]) > 0, name
        assert unit["Restart"] in ("always", "on-failure") and unit["RestartSec"], name
        assert unit["StandardError"] == "journal", name
        for key, want in [
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "yes"),
            ("PrivateTmp", "yes"),
        ]:
            assert unit.get(key) == want, f"{name}: {key}"
        role = name.removeprefix("vuoro-").removesuffix(".service")
        allowed = " ".join(v for k, v in unit.items() if k.startswith("DeviceAllow"))
        if role == "scheduler":
            assert unit["PrivateDevices"] == "yes"
        else:
            assert unit["DevicePolicy"] == "closed", name
        assert ("gpiochip" in allowed) == (role == "desk"), name
        assert ("char-usb" in allowed) == (role == "kiosk"), name
        assert ("char-alsa" in allowed) == (role == "display"), name
        if role in ("kiosk", "display"):
            assert unit["ExecStart"].startswith("/usr/bin/cage ") and unit["NotifyAccess"] == "all"
        if role != "scheduler":  # the devices' state: on the data partition, never in RAM
            assert unit["RequiresMountsFor"] == "/var/lib/vuoro", name


def tomllib_like(text: str) -> dict[str, str]:
    """key=value lines of a unit (repeated keys numbered: DeviceAllow, DeviceAllow#1...)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        n, key = 0, k
        while key in out:
            n += 1
            key = f"{k}#{n}"
        out[key] = v
    return out
