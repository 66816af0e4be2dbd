#!/usr/bin/env bash
# Idempotent set-up: Debian packages the system needs, then a venv with Vuoro installed.
# Safe to run again: anything already there is skipped. Used by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# mosquitto, postgresql: broker and database (the tests start private instances).
# pcscd, vsmartcard-vpcd, libpcsclite-dev, swig: the kiosk's card reader (pyscard builds
# against libpcsclite; the tests use vpcd's virtual reader). espeak-ng, sox: the lobby
# display's announcements. fonts-dejavu-core: glyphs Roboto lacks (arrows). chromium: the
# web pages' browser tests (Playwright drives Debian's Chromium; it downloads no browser).
# debootstrap, zstd, systemd (systemd-analyze): the Pi image recipe's test builds a root
# file system in a chroot and verifies the unit files. fdisk (sfdisk), dosfstools: the
# data partition's test lays out a Pi-like disk image.
APT_PACKAGES=(mosquitto mosquitto-clients python3-venv python3-dev postgresql sqlite3 tmux
              pcscd vsmartcard-vpcd libpcsclite-dev swig espeak-ng sox fonts-dejavu-core
              libmtdev1 chromium debootstrap zstd systemd fdisk dosfstools)
VENV=${VENV:-.venv}
STAMP="$VENV/.vuoro-installed"

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The tests and the demo start their own private brokers and databases; the system-wide
    # services installed above are not needed by Vuoro (and may be stopped).
else
    say "Debian packages present"
fi

PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PY" -m venv "$VENV"
fi
# Re-install when pyproject.toml changed since the last install.
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    say "installing Vuoro and its dependencies into $VENV"
    log="$VENV/pip-install.log"
    if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
           "$VENV/bin/python" -m pip install -e ".[dev]"; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        say "pip install failed; the whole log is in $log"
        exit 1
    fi
    touch "$STAMP"
else
    say "virtual environment up to date"
fi
