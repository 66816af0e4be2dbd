#!/bin/bash
# Turn a Debian/Raspberry Pi OS root file system into a Vuoro device of one role.
#
#   install-role.sh ROLE WHEELHOUSE [--no-deps | --online]
#
# Runs INSIDE the target root, as root: in pi-gen's stage (on_chroot), in the test's
# debootstrap chroot, or on a running Pi. ROLE is kiosk, display or desk. WHEELHOUSE is
# a folder with the vuoro wheel and the wheels of its dependencies for this machine;
# --no-deps installs exactly the wheels found there (the test does this: it brings only
# what `vuoro --version` needs); --online lets pip fetch the dependencies from the
# index (the pi-gen build). The repository's images/ and systemd/ folders must sit
# next to each other (this script is images/install-role.sh).
#
# Steps: 1 Debian packages, 2 the vuoro user and groups, 3 the venv with vuoro,
# 4 systemd units (role, boot-partition config, nightly updates) enabled, 5 read-only
# root (overlayroot) and the persistent data partition for /var/lib/vuoro (no root
# growth on first boot), 6 logs in RAM (journald volatile), 7 pcscd access (kiosk).
set -euo pipefail

ROLE=${1:?usage: install-role.sh kiosk|display|desk WHEELHOUSE [--no-deps]}
WHEELS=${2:?usage: install-role.sh ROLE WHEELHOUSE [--no-deps]}
NODEPS=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
UNITS=$(cd "$HERE/../systemd" && pwd)
VENV=/opt/vuoro/venv

case "$ROLE" in kiosk|display|desk) ;; *) echo "install-role.sh: unknown role '$ROLE' (kiosk, display, desk)" >&2; exit 2 ;; esac
[ -d "$WHEELS" ] || { echo "install-role.sh: no wheelhouse at $WHEELS" >&2; exit 2; }
say() { printf '[install-role %s] %s\n' "$ROLE" "$*"; }
pkgs() { grep -v '^\s*#' "$HERE/packages/$1.txt" | tr -s ' \n' ' '; }

# 1. Packages (Raspberry Pi OS's own ones only where its archive is configured).
list="$(pkgs common) $(pkgs "$ROLE")"
if ls /etc/apt/sources.list.d/raspi.* >/dev/null 2>&1; then
    list="$list $(pkgs pios-only)"
fi
say "packages: $list"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $list >/tmp/vuoro-apt.log 2>&1; then
    apt-get update -q >>/tmp/vuoro-apt.log 2>&1
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $list >>/tmp/vuoro-apt.log 2>&1 ||
        { tail -n 30 /tmp/vuoro-apt.log >&2; exit 1; }
fi

# 2. The user the units run as, and the device groups each role needs.
for g in gpio video render input audio plugdev lp; do
    getent group "$g" >/dev/null || groupadd --system "$g"
done
if ! getent passwd vuoro >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/vuoro --no-create-home \
        --shell /usr/sbin/nologin vuoro
fi
install -d -o vuoro -g vuoro -m 0750 /var/lib/vuoro
install -d -m 0755 /etc/vuoro /usr/lib/vuoro

# 3. The venv with vuoro (system site packages: Raspberry Pi OS's python3-lgpio).
say "venv $VENV"
python3 -m venv --system-site-packages "$VENV"
if [ "$NODEPS" = "--no-deps" ]; then
    "$VENV/bin/pip" install -q --no-index --no-deps "$WHEELS"/*.whl
elif [ "$NODEPS" = "--online" ]; then  # pi-gen: dependencies from PyPI/piwheels
    "$VENV/bin/pip" install -q --find-links "$WHEELS" vuoro
else
    "$VENV/bin/pip" install -q --no-index --find-links "$WHEELS" vuoro
fi
ln -sf "$VENV/bin/vuoro" /usr/local/bin/vuoro
"$VENV/bin/vuoro" --version

# 4. systemd units: the role, its config from the boot partition, nightly updates.
install -m 0755 "$HERE/files/vuoro-config" /usr/lib/vuoro/vuoro-config
install -m 0755 "$HERE/files/vuoro-update" /usr/lib/vuoro/vuoro-update
for u in "vuoro-$ROLE.service" vuoro-config.service vuoro-update.service vuoro-update.timer; do
    install -m 0644 "$UNITS/$u" "/etc/systemd/system/$u"
done
systemd_version=$(systemctl --version | awk 'NR==1 {print $2}')
if [ "${systemd_version%%.*}" -ge 254 ]; then  # RestartSteps= is new in systemd 254
    install -d "/etc/systemd/system/vuoro-$ROLE.service.d"
    install -m 0644 "$HERE/files/backoff.conf" "/etc/systemd/system/vuoro-$ROLE.service.d/backoff.conf"
fi
systemctl enable "vuoro-$ROLE.service" vuoro-config.service vuoro-update.timer
# apt's timers would update the RAM overlay only; vuoro-update.timer replaces them.
systemctl mask apt-daily.timer apt-daily-upgrade.timer
install -m 0644 "$HERE/files/20auto-upgrades" /etc/apt/apt.conf.d/20auto-upgrades
if [ "$ROLE" != desk ]; then
    # the screen belongs to the kiosk or display on tty1
    systemctl mask getty@tty1.service
fi

# 5. Read-only root under a RAM overlay (needs the initramfs Raspberry Pi OS boots with).
install -m 0644 "$HERE/files/overlayroot.local.conf" /etc/overlayroot.local.conf

# 5b. /var/lib/vuoro on its own partition (VUORODATA), outside the overlay: the kiosk's
# outbox and offline-number counter survive reboots and power cuts. vuoro-data.service
# makes it on the first boot from the free space after the root partition, so the root
# must not grow over that space: Raspberry Pi OS's first-boot resize is taken out of
# cmdline.txt (older images: init=.../firstboot; newer: the bare `resize` word).
install -m 0755 "$HERE/files/vuoro-data" /usr/lib/vuoro/vuoro-data
install -m 0644 "$UNITS/vuoro-data.service" /etc/systemd/system/vuoro-data.service
systemctl enable vuoro-data.service
touch /etc/fstab
if ! grep -q '^LABEL=VUORODATA[[:space:]]' /etc/fstab; then
    cat "$HERE/files/fstab-vuoro" >>/etc/fstab
fi
for cmdline in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
    [ -f "$cmdline" ] && [ ! -L "$cmdline" ] || continue
    sed -i -e 's| init=/usr/lib/raspberrypi-sys-mods/firstboot||' \
        -e 's/ resize\( \|$\)/\1/' "$cmdline"
done
# firstboot also made the SSH host keys; Raspberry Pi OS has a unit for that too.
if [ -e /lib/systemd/system/regenerate_ssh_host_keys.service ]; then
    systemctl enable regenerate_ssh_host_keys.service
fi

# 6. Logs in RAM.
install -d /etc/systemd/journald.conf.d
install -m 0644 "$HERE/files/journald-vuoro.conf" /etc/systemd/journald.conf.d/vuoro.conf

# 7. The kiosk reads ID cards through pcscd.
if [ "$ROLE" = kiosk ]; then
    install -d /etc/polkit-1/rules.d
    install -m 0644 "$HERE/files/50-vuoro-pcscd.rules" /etc/polkit-1/rules.d/50-vuoro-pcscd.rules
    systemctl enable pcscd.socket
fi
echo "$ROLE" >/etc/vuoro/image-role
say "done"
