"""A private pcscd with vsmartcard's virtual reader, for the card reader tests.

How it stays private: the pcsc-lite client library (libpcsclite, which pyscard loads)
takes its socket path from the environment variable `PCSCLITE_CSOCK_NAME`, but Debian's
pcscd 1.9.9 does not: the daemon always makes `/run/pcscd/pcscd.comm` and
`/run/pcscd/pcscd.pid` (its path is compiled in; `strings $(which pcscd)` shows no
PCSCLITE_CSOCK_NAME). So the daemon runs in a mount namespace of its own
(`unshare --mount`, which needs root; CI runs as root) where a temporary folder is bind
mounted on /run/pcscd; the test process points libpcsclite at that folder's socket with
`PCSCLITE_CSOCK_NAME`. A system pcscd, if one runs, is never seen or touched.

If `unshare` is not allowed (a container without CAP_SYS_ADMIN), the fixture falls back
to the system path /run/pcscd as long as no pcscd is running there, and fails with a
clear message otherwise (it never skips).

The reader is vpcd (`/usr/lib/pcsc/drivers/serial/libifdvpcd.so`), configured in a
private reader.conf as vsmartcard documents it: `DEVICENAME /dev/null:<port>` makes vpcd
listen on <port> (slot 0) and <port>+1 (slot 1) on all interfaces; a free pair is chosen.
A fake card (tests/support/vcard.py) connecting to <port> is a card in the first reader,
"Vuoro Test PCD 00 00".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER_NAME = "Vuoro Test PCD"
SYSTEM_RUN = Path("/run/pcscd")


def free_port_pair() -> int:
    """A port p such that p and p+1 are both free on all interfaces (vpcd uses both)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of TCP ports for vpcd")


def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return r.returncode == 0


def _socket_alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
        return True


class PrivatePcscd:
    """pcscd in the foreground with one vpcd reader; `stop()`/`start()` for restart tests."""

    def __init__(self) -> None:
        pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
        if not Path(pcscd).exists() or not VPCD_DRIVER.exists():
            raise RuntimeError(
                "pcscd or vsmartcard-vpcd is missing: run `make bootstrap` "
                "(scripts/bootstrap.sh installs the Debian packages pcscd and vsmartcard-vpcd)"
            )
        self.pcscd = pcscd
        self.dir = Path(tempfile.mkdtemp(prefix="vuoro-pcscd-"))
        self.port = free_port_pair()
        self.conf = self.dir / "reader.conf"
        self.conf.write_text(
            f'FRIENDLYNAME "{READER_NAME}"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
        )
        self.log_path = self.dir / "pcscd.log"
        self.private = _can_unshare()
        if self.private:
            self.run_dir = self.dir / "run"
            self.run_dir.mkdir()
        elif os.geteuid() == 0 and not _socket_alive(SYSTEM_RUN / "pcscd.comm"):
            self.run_dir = SYSTEM_RUN  # no namespace, but no other pcscd either
        else:
            raise RuntimeError(
                "cannot start a private pcscd: pcscd 1.9.9 always uses /run/pcscd, so the tests "
                "need root to run it in its own mount namespace (`unshare --mount`), or root and "
                "no other pcscd running. Run the tests as root (CI does)."
            )
        self.socket_path = self.run_dir / "pcscd.comm"
        # libpcsclite reads this once, at the first PC/SC call of this process.
        self._old_env = os.environ.get("PCSCLITE_CSOCK_NAME")
        os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket_path)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def reader_name(self) -> str:
        """The reader the fake card goes into (vpcd's first slot)."""
        return f"{READER_NAME} 00 00"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        assert not self.running
        args = [self.pcscd, "--foreground", "--debug", "--apdu", "--config", str(self.conf)]
        if self.private:
            script = 'mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && shift && exec "$@"'
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
            cmd += [str(self.run_dir), *args]
        else:
            cmd = args
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while self.reader_name not in self.readers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pcscd did not show its vpcd reader:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        # pcscd cleans its files on exit; make sure a killed one leaves none behind.
        for name in ("pcscd.comm", "pcscd.pid"):
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / name).unlink()

    def readers(self) -> list[str]:
        from smartcard.scard import (
            SCARD_S_SUCCESS,
            SCARD_SCOPE_USER,
            SCardEstablishContext,
            SCardListReaders,
            SCardReleaseContext,
        )

        rv, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
        if rv != SCARD_S_SUCCESS:
            return []
        try:
            rv, names = SCardListReaders(ctx, [])
            return list(names) if rv == SCARD_S_SUCCESS else []
        finally:
            SCardReleaseContext(ctx)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._old_env is None:
            os.environ.pop("PCSCLITE_CSOCK_NAME", None)
        else:
            os.environ["PCSCLITE_CSOCK_NAME"] = self._old_env


@pytest.fixture(scope="session")
def pcscd_session() -> Iterator[PrivatePcscd]:
    daemon = PrivatePcscd()
    daemon.start()
    yield daemon
    daemon.cleanup()


@pytest.fixture
def pcscd(pcscd_session: PrivatePcscd) -> PrivatePcscd:
    """The session's private pcscd, running (a test may stop it; the next gets it back)."""
    if not pcscd_session.running:
        pcscd_session.start()
    return pcscd_session
