"""A Debian root file system for the image recipe's tests: debootstrap, cached.

The base (debootstrap minbase of the host's suite and architecture, plus the Debian
packages of images/packages/*.txt) takes 1-3 minutes to make from the network; it is
kept as a zstd tarball under ~/.cache/vuoro/debootstrap/, keyed by suite, architecture
and the package lists, and unpacked in seconds for each test run. Everything that fails
raises with what to do: nothing here skips.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vuoro"
LISTS = ["common", "kiosk", "display", "desk"]


class ImageTestError(AssertionError):
    """A missing tool or an unreachable mirror: the test fails with this message."""


def need(tool: str, package: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else "")
    if not path:
        raise ImageTestError(f"{tool} is missing: apt-get install {package} (scripts/bootstrap.sh)")
    return path


def host_suite_arch() -> tuple[str, str]:
    codename = ""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            codename = line.split("=", 1)[1].strip('"')
    if not codename:
        raise ImageTestError("cannot tell the host's Debian release (/etc/os-release)")
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return codename, arch


def mirror() -> str:
    """The host's Debian mirror (deb822 sources or sources.list), else deb.debian.org."""
    for f in sorted(Path("/etc/apt").glob("sources.list.d/*.sources")):
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", f.read_text(), re.M)
        if m:
            return m.group(1)
    sl = Path("/etc/apt/sources.list")
    if sl.exists():
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", sl.read_text(), re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def packages() -> list[str]:
    out: set[str] = set()
    for name in LISTS:
        for line in (ROOT / "images" / "packages" / f"{name}.txt").read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            out.update(line.split())
    return sorted(out)


def base_tarball() -> Path:
    """The cached base root (made on first use; takes minutes, needs the Debian mirror)."""
    suite, arch = host_suite_arch()
    pk = packages()
    key = hashlib.sha256(" ".join([suite, arch, *pk]).encode()).hexdigest()[:12]
    d = CACHE / "debootstrap"
    d.mkdir(parents=True, exist_ok=True)
    tar = d / f"{suite}-{arch}-minbase-{key}.tar.zst"
    with (d / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tar.exists():
            return tar
        debootstrap = need("debootstrap", "debootstrap")
        need("zstd", "zstd")
        work = d / f"build-{key}"
        shutil.rmtree(work, ignore_errors=True)
        cmd = [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join(pk)}",
            suite,
            str(work),
            mirror(),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stdout + r.stderr)[-2000:]
            shutil.rmtree(work, ignore_errors=True)
            raise ImageTestError(f"debootstrap failed (mirror {mirror()} reachable?):\n{tail}")
        for deb in (work / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        tmp = tar.with_suffix(".tmp")
        subprocess.run(["tar", "-C", str(work), "--zstd", "-cf", str(tmp), "."], check=True)
        tmp.replace(tar)
        shutil.rmtree(work, ignore_errors=True)
        return tar


def unpack(tar: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(dest), "--zstd", "-xf", str(tar)], check=True)
    return dest


# ---------------------------------------------------------------------------- wheels


def version_distributions() -> list[tuple[str, str]]:
    """(distribution, version) of every third-party package `vuoro --version` imports
    here, from the host's own import trace: the minimum the chroot needs."""
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vuoro.cli", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if r.returncode != 0:
        raise ImageTestError(f"vuoro --version fails on the host: {r.stderr[-1000:]}")
    tops = {
        line.split("|")[-1].strip().split(".")[0]
        for line in r.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    dists = md.packages_distributions()
    own = {"vuoro"}
    out: set[tuple[str, str]] = set()
    for top in tops:
        for dist in dists.get(top, []):
            if dist.lower() not in own:
                out.add((dist, md.version(dist)))
    # Compiled modules import their helpers under other names (e.g. _cffi_backend).
    if any(t.startswith("_cffi") for t in tops) or ("argon2_cffi_bindings", "") in out:
        out.add(("cffi", md.version("cffi")))
    return sorted(out)


def wheelhouse(dest: Path) -> Path:
    """The vuoro wheel (built from this checkout) and the dependency wheels
    `vuoro --version` needs (pip download, cached in ~/.cache/vuoro/wheels)."""
    dest.mkdir(parents=True, exist_ok=True)
    cache = CACHE / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    for dist, ver in version_distributions():
        name = re.sub(r"[-_.]+", "_", dist).lower()
        found = [
            w
            for w in cache.glob("*.whl")
            if re.sub(r"[-_.]+", "_", w.name.split("-")[0]).lower() == name
            and w.name.split("-")[1] == ver
        ]
        if not found:
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--only-binary=:all:",
                    "-d",
                    str(cache),
                    f"{dist}=={ver}",
                ],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                raise ImageTestError(f"pip download {dist}=={ver} failed: {r.stderr[-1500:]}")
            found = [
                w
                for w in cache.glob("*.whl")
                if re.sub(r"[-_.]+", "_", w.name.split("-")[0]).lower() == name
                and w.name.split("-")[1] == ver
            ]
        for w in found:
            shutil.copy2(w, dest / w.name)
    # The vuoro wheel, built from a copy of the sources (nothing left in the checkout),
    # cached by the sources' content.
    pkgs = [
        "vuoro",
        "firmware_common",
        "scheduler",
        "kiosk",
        "display",
        "desk",
        "provisioning",
        "bench",
    ]
    files = [
        *sorted(
            f
            for pkg in pkgs
            for f in (ROOT / pkg).rglob("*")
            if f.is_file() and "__pycache__" not in f.parts
        ),
        ROOT / "pyproject.toml",
        ROOT / "README.md",
    ]
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    built = cache / f"vuoro-{h.hexdigest()[:16]}"
    if not any(built.glob("vuoro-*.whl")):
        src = dest.parent / "vuoro-src"
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for pkg in pkgs:
            shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
        for f in ["pyproject.toml", "README.md"]:
            shutil.copy2(ROOT / f, src / f)
        r = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(built), str(src)],
            capture_output=True,
            text=True,
        )
        shutil.rmtree(src, ignore_errors=True)
        if r.returncode != 0:
            raise ImageTestError(f"building the vuoro wheel failed: {r.stderr[-1500:]}")
    for w in built.glob("vuoro-*.whl"):
        shutil.copy2(w, dest / w.name)
    return dest


# ---------------------------------------------------------------------------- chroot


def in_chroot(root: Path, *cmd: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in `root` with /proc and /dev, in a private mount namespace (nothing
    stays mounted on the host)."""
    if os.geteuid() != 0:
        raise ImageTestError("the image test needs root (chroot, mounts): run it as root")
    need("unshare", "util-linux")
    script = (
        'set -e; R="$1"; shift; '
        'mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; '
        'mount -t tmpfs tmpfs "$R/run"; '
        'exec chroot "$R" /usr/bin/env -i LANG=C.UTF-8 HOME=/root '
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
        '"$@"'
    )
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--fork",
            "sh",
            "-c",
            script,
            "sh",
            str(root),
            *cmd,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
