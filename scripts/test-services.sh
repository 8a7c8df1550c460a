#!/usr/bin/env bash
# Debian packages whose servers the tests start themselves on 127.0.0.1 (PostgreSQL for the store
# tests, Redis for shared limits, nginx in front of two gateways; chromium for the dashboard test);
# installed only when missing, so `make test` works on a fresh machine and costs nothing after.
set -euo pipefail
missing=()
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the headless browser the dashboard test drives
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)  # deploy/nginx.conf's test, two gateways
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing ${missing[*]} from Debian's packages for the tests"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
