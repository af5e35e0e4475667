#!/usr/bin/env bash
# Install the Debian 12 packages rill needs (build, backends, tests).  Idempotent:
# only what is missing is installed.  Needs root or sudo.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libevent-dev libjansson-dev libcmocka-dev
      librdkafka-dev libhiredis-dev librocksdb-dev libavro-dev redis-server kcat
      clang-format clang libclang-rt-14-dev curl libsimdjson-dev g++ prometheus
      chromium chromium-driver)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
