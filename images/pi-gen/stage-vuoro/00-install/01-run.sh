#!/bin/bash -e
# pi-gen: make this Raspberry Pi OS Lite root a Vuoro device of one role (written to
# files/vuoro/role by images/build.sh), with the same script the project's test runs in
# a Debian chroot (images/install-role.sh).
role=$(cat files/vuoro/role)
src="${ROOTFS_DIR}/tmp/vuoro"
rm -rf "$src"
mkdir -p "$src"
cp -a files/vuoro/images files/vuoro/systemd files/vuoro/wheels "$src/"
on_chroot <<CHROOT
bash /tmp/vuoro/images/install-role.sh "$role" /tmp/vuoro/wheels --online
CHROOT
rm -rf "$src"
