#!/usr/bin/env bash
# tools/systemd/hafwd.service passes `systemd-analyze verify`, and starts
# hafwd the way hafwd's own usage line says it is started.
# Usage: systemd_unit_test.sh SOURCE_ROOT
set -euo pipefail
root=$1
unit=$root/tools/systemd/hafwd.service
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

# verify also checks that each Exec program exists: stand-ins under a
# private prefix, the unit rewritten to point there.
mkdir -p "$tmp/usr/local/sbin" "$tmp/usr/local/bin"
for p in usr/local/sbin/hafwd usr/local/bin/hafwctl; do
  printf '#!/bin/sh\nexit 0\n' > "$tmp/$p"
  chmod +x "$tmp/$p"
done
sed "s|/usr/local/|$tmp/usr/local/|g" "$unit" > "$tmp/hafwd.service"
out=$(cd "$tmp" && systemd-analyze verify "$tmp/hafwd.service" 2>&1) || fail "systemd-analyze verify: $out"
# Warnings about the unit itself also fail (verify exits 0 on some of them).
if grep -q 'hafwd.service' <<<"$out"; then fail "systemd-analyze verify: $out"; fi

# The directives the deployment docs rely on.
for want in 'ExecStart=/usr/local/sbin/hafwd --config /etc/hafw/hafw.json' \
            'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' 'KillSignal=SIGTERM' \
            'LimitMEMLOCK=infinity' 'RuntimeDirectory=hafw' 'StateDirectory=hafw' 'ConfigurationDirectory=hafw'; do
  grep -qxF "$want" "$unit" || fail "$unit lacks the line: $want"
done
# hafwd takes its config as --config FILE (control/hafwd.cc's usage).
grep -q '"usage: hafwd --config FILE' "$root/control/hafwd.cc" || fail "hafwd's usage no longer reads 'hafwd --config FILE'"
echo "systemd unit: verified"
