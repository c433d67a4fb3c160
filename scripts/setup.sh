#!/usr/bin/env bash
# Install everything the dashboard and its tests need on Debian 12, as root. Safe to run again:
# each step checks first and does nothing when its work is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# One list for this script and the Dockerfile.
mapfile -t APT_PACKAGES < <(grep -v '^#' scripts/apt-packages.txt | grep -v '^$')

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Debian's redis-server package starts a service; policy-rc.d keeps package scripts from
  # starting daemons we did not ask for (the project starts what it needs itself).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# libvirtd's QEMU driver looks up its compiled-in default user even when qemu.conf says root;
# libvirt-daemon-system would create it, but that package also starts system daemons.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin --gid libvirt-qemu libvirt-qemu

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> Creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> Installing Python packages from requirements.txt"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

if [ -f package.json ] && ! command -v npm >/dev/null; then
  # Debian's npm, only where no Node.js is installed (a NodeSource nodejs already carries npm).
  echo "==> Installing nodejs and npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi
if [ -f package.json ]; then
  stamp=node_modules/.package-lock.sha256
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> Installing front-end packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  fi
  .venv/bin/python scripts/vendor_assets.py
fi

mkdir -p var
# Vietnamese: compiled from the committed .po on every set-up (the .mo is not committed).
.venv/bin/python manage.py compilemessages -l vi --ignore=.venv --ignore=node_modules -v 0
echo "==> Set-up complete"
