"""The devices' persistent data partition (images/files/vuoro-data), made for real.

A 1 GiB sparse file laid out like a Raspberry Pi OS card (a FAT boot partition, then
an ext4 root, then free space: the image does not grow its root) is attached as a loop
device with its partitions; the root is mounted read-only while the script runs, as on
the Pi (the disk is in use). Checked: the new partition in the table (right after the
root, 4 MiB aligned, 256 MiB), ext4 with a journal and the label VUORODATA; a second
run changes nothing (same table, same file system UUID); a SQLite file written through
firmware_common.localdb (WAL, synchronous=FULL) on it with the mount options of
/etc/fstab survives unmount, detaching the loop device and attaching it again; a
partition left half-made by a power cut is finished; a foreign partition after the
root, or no room, is refused with nothing changed.

This kernel may have no partition-table parser of its own: the test (and the script)
tell it about partitions with partx (BLKPG), which a Pi's kernel accepts too. Not
proven here: a real SD card, a real power cut during the first boot, udev's by-label
link and systemd mounting it at boot (the units and the fstab line are checked in
test_image_recipe.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_common.localdb import open_durable
from tests.support.imageroot import ROOT, ImageTestError, need

SCRIPT = ROOT / "images" / "files" / "vuoro-data"
FSTAB_OPTIONS = "noatime,data=journal"
MIB = 2048  # sectors
BOOT = (8192, 64 * MIB)
ROOT_PART = (8192 + 64 * MIB, 512 * MIB)  # starts at 139264, ends at 1187839


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


@dataclass
class Card:
    image: Path
    dev: str  # /dev/loopN
    work: Path

    def part(self, n: int) -> str:
        return f"{self.dev}p{n}"

    def table(self) -> str:
        return "\n".join(
            line for line in run("sfdisk", "-d", self.dev).stdout.splitlines() if "start=" in line
        )


def tools() -> None:
    if os.geteuid() != 0:
        raise ImageTestError("the data partition test needs root (loop devices, mounts)")
    for tool, pkg in [
        ("losetup", "mount"),
        ("sfdisk", "fdisk"),
        ("partx", "util-linux"),
        ("mkfs.ext4", "e2fsprogs"),
        ("mkfs.vfat", "dosfstools"),
        ("blkid", "util-linux"),
    ]:
        need(tool, pkg)


def attach(image: Path) -> str:
    r = run("losetup", "-f", "--show", "-P", str(image), check=False)
    if r.returncode != 0:
        raise ImageTestError(
            f"no loop device (losetup -f: {r.stderr.strip()}): modprobe loop, or run where "
            "/dev/loop-control exists"
        )
    dev = r.stdout.strip()
    # The kernel may not parse partition tables itself: tell it (BLKPG), as the script does.
    run("partx", "-a", dev, check=False)
    for _ in range(50):
        if Path(f"{dev}p2").exists():
            break
        time.sleep(0.1)
    assert Path(f"{dev}p2").exists(), f"{dev}: the partitions did not appear"
    return dev


def detach(dev: str) -> None:
    run("losetup", "-d", dev, check=False)


def make_card(work: Path, *, root_size: int = ROOT_PART[1], size: str = "1G") -> Card:
    image = work / "card.img"
    image.unlink(missing_ok=True)
    run("truncate", "-s", size, str(image))
    layout = (
        "label: dos\n"
        f"start={BOOT[0]}, size={BOOT[1]}, type=c\n"
        f"start={ROOT_PART[0]}, size={root_size}, type=83\n"
    )
    subprocess.run(["sfdisk", "-q", str(image)], input=layout, text=True, check=True)
    dev = attach(image)
    run("mkfs.vfat", "-F", "32", "-n", "bootfs", f"{dev}p1")
    run("mkfs.ext4", "-q", "-F", "-L", "rootfs", f"{dev}p2")
    return Card(image, dev, work)


@pytest.fixture
def work() -> Iterator[Path]:
    tools()
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and shutil.disk_usage(shm).free > 2 * 2**30 else None
    d = Path(tempfile.mkdtemp(prefix="vuoro-card-", dir=base))
    try:
        yield d
    finally:
        for m in d.glob("mnt-*"):
            run("umount", "-l", str(m), check=False)
        for line in run("losetup", "-j", str(d / "card.img"), check=False).stdout.splitlines():
            detach(line.split(":", 1)[0])
        shutil.rmtree(d, ignore_errors=True)


def vuoro_data(card: Card) -> subprocess.CompletedProcess[str]:
    """The script, with the card's root partition mounted read-only (as on the Pi)."""
    mnt = card.work / "mnt-root"
    mnt.mkdir(exist_ok=True)
    run("mount", "-o", "ro", card.part(2), str(mnt))
    try:
        return run("bash", str(SCRIPT), card.part(2), check=False)
    finally:
        run("umount", str(mnt))


def probe(dev: str, tag: str) -> str:
    return run("blkid", "-p", "-s", tag, "-o", "value", dev, check=False).stdout.strip()


def test_the_data_partition_is_made_once_and_keeps_what_is_written(work: Path) -> None:
    card = make_card(work)
    before = card.table()
    r = vuoro_data(card)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "making partition 3" in r.stdout and "is VUORODATA" in r.stdout, r.stdout

    # The table: boot and root unchanged, the new partition right after the root.
    table = card.table()
    assert table.startswith(before), table
    start = ROOT_PART[0] + ROOT_PART[1]  # 1187840, a multiple of 8192
    assert start % 8192 == 0
    assert f"p3 : start=     {start}, size=      {256 * MIB}, type=83" in table, table
    # ext4 with a journal, labelled VUORODATA.
    p3 = card.part(3)
    assert probe(p3, "TYPE") == "ext4" and probe(p3, "LABEL") == "VUORODATA"
    features = run("dumpe2fs", "-h", p3).stdout
    assert "has_journal" in features, features
    uuid = probe(p3, "UUID")

    # Again: nothing changes.
    r = vuoro_data(card)
    assert r.returncode == 0 and "VUORODATA present on" in r.stdout, r.stdout + r.stderr
    assert card.table() == table
    assert probe(p3, "UUID") == uuid

    # The kiosk's durable SQLite file (WAL, synchronous=FULL) on it, with the fstab
    # options; then unmounted, the loop device detached and attached again (a reboot).
    data = work / "mnt-data"
    data.mkdir()
    run("mount", "-t", "ext4", "-o", FSTAB_OPTIONS, p3, str(data))
    assert "data=journal" in run("findmnt", "-n", "-o", "OPTIONS", str(data)).stdout
    db = open_durable(data / "kiosk-outbox-numbers.db")
    db.execute("CREATE TABLE counter (day TEXT, letter TEXT, last INTEGER)")
    db.execute("INSERT INTO counter VALUES ('2025-03-04', 'A', 905)")
    db.close()
    run("umount", str(data))
    detach(card.dev)
    card.dev = attach(card.image)
    p3 = card.part(3)
    assert probe(p3, "LABEL") == "VUORODATA"
    run("mount", "-t", "ext4", "-o", FSTAB_OPTIONS, p3, str(data))
    try:
        db = open_durable(data / "kiosk-outbox-numbers.db")
        assert db.execute("SELECT last FROM counter WHERE letter = 'A'").fetchone() == (905,)
        db.close()
    finally:
        run("umount", str(data))
    # And a third run after the "reboot": still nothing to do.
    r = vuoro_data(card)
    assert r.returncode == 0 and "present" in r.stdout and card.table() == table


def test_a_partition_left_half_made_is_finished(work: Path) -> None:
    """A power cut on the first boot after the partition was added, before mkfs."""
    card = make_card(work)
    start = ROOT_PART[0] + ROOT_PART[1]
    subprocess.run(
        ["sfdisk", "-q", "--append", "--no-reread", "--no-tell-kernel", card.dev],
        input=f"start={start}, size={256 * MIB}, type=83\n",
        text=True,
        check=True,
    )
    r = vuoro_data(card)
    assert r.returncode == 0 and "not finished" in r.stdout, r.stdout + r.stderr
    assert probe(card.part(3), "LABEL") == "VUORODATA"
    # ... or during mkfs (the temporary label): formatted again, too.
    run("e2label", card.part(3), "VUORONEW")
    r = vuoro_data(card)
    assert r.returncode == 0 and "not finished" in r.stdout, r.stdout + r.stderr
    assert probe(card.part(3), "LABEL") == "VUORODATA"


def test_foreign_partitions_and_a_full_card_are_left_alone(work: Path) -> None:
    card = make_card(work)
    start = ROOT_PART[0] + ROOT_PART[1]
    subprocess.run(
        ["sfdisk", "-q", "--append", "--no-reread", "--no-tell-kernel", card.dev],
        input=f"start={start}, size={256 * MIB}, type=83\n",
        text=True,
        check=True,
    )
    run("partx", "-a", "--nr", "3", card.dev, check=False)
    run("mkfs.ext4", "-q", "-F", "-L", "photos", card.part(3))
    uuid, table = probe(card.part(3), "UUID"), card.table()
    r = vuoro_data(card)
    assert r.returncode == 1 and "not touching it" in r.stderr, r.stdout + r.stderr
    assert probe(card.part(3), "UUID") == uuid and card.table() == table
    detach(card.dev)

    # A root grown to fill the card (Raspberry Pi OS's own first-boot resize).
    full = make_card(work, root_size=1024 * MIB - ROOT_PART[0])
    table = full.table()
    r = vuoro_data(full)
    assert r.returncode == 1 and "no room" in r.stderr, r.stdout + r.stderr
    assert full.table() == table
