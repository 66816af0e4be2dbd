#!/bin/bash
# Build a Raspberry Pi OS Lite (arm64, bookworm) image of one Vuoro role with pi-gen.
#
#   images/build.sh kiosk|display|desk [WORKDIR]
#
# Needs Docker (pi-gen's build-docker.sh) or a Debian arm64/amd64 host with qemu-user-static
# and binfmt for arm64. The image lands in WORKDIR/pi-gen/deploy/.
set -euo pipefail
ROLE=${1:?usage: images/build.sh kiosk|display|desk [WORKDIR]}
WORK=${2:-$PWD/build/image-$ROLE}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PIGEN_REF=${PIGEN_REF:-2024-11-19-raspios-bookworm-arm64}   # a tag of pi-gen's arm64 branch
mkdir -p "$WORK"
[ -d "$WORK/pi-gen" ] || git clone --depth 1 --branch "$PIGEN_REF" https://github.com/RPi-Distro/pi-gen.git "$WORK/pi-gen"
stage="$WORK/pi-gen/stage-vuoro"
rm -rf "$stage"
cp -a "$REPO/images/pi-gen/stage-vuoro" "$stage"
mkdir -p "$stage/00-install/files/vuoro/wheels"
cp -a "$REPO/images" "$REPO/systemd" "$stage/00-install/files/vuoro/"
python3 -m pip wheel --no-deps -w "$stage/00-install/files/vuoro/wheels" "$REPO"
echo "$ROLE" >"$stage/00-install/files/vuoro/role"
cat >"$WORK/pi-gen/config" <<CONF
IMG_NAME=vuoro-$ROLE
RELEASE=bookworm
TARGET_HOSTNAME=vuoro-$ROLE
FIRST_USER_NAME=vuoro-admin
DISABLE_FIRST_BOOT_USER_RENAME=1
ENABLE_SSH=1
PUBKEY_ONLY_SSH=1
LOCALE_DEFAULT=fi_FI.UTF-8
KEYBOARD_KEYMAP=fi
TIMEZONE_DEFAULT=Europe/Helsinki
STAGE_LIST="stage0 stage1 stage2 stage-vuoro"

CONF
echo "pi-gen config in $WORK/pi-gen/config: add PUBKEY_SSH_FIRST_USER (your key) before building"
cd "$WORK/pi-gen"
if command -v docker >/dev/null; then ./build-docker.sh; else sudo ./build.sh; fi
