#!/usr/bin/env bash
# Config sync in the netns lab (tools/lab, docs/operations.md "Config sync").
#
# Asserts what an operator would see: with sync.key on both nodes and
# sync.config_sync on the primary, a VIP added to the primary's file and
# loaded with `hafwctl config reload` shows in the secondary's `hafwctl carp`
# with advskew + 100 within 1 s; the secondary's `hafwctl sync` counts it as
# applied; a secondary restarted with another interface order refuses the
# primary's configuration with an event and keeps its own; and the lab
# leaves nothing behind.
#
# Needs root and iproute2, and hafwd/hafwctl under $HAFW_BUILD (default
# <repo>/build). Prints PASS/FAIL per step, sync_ms=<n> for the VIP, and
# ends with "config_sync: N passed, M failed"; exits non-zero on any failure.
set -uo pipefail  # no -e: every step is checked and reported

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$REPO/tools/lab/lab
BUILD=${HAFW_BUILD:-$REPO/build}
export HAFW_BUILD=$BUILD
P=${HAFW_SMOKE_PREFIX:-hcs$$}
export HAFW_LAB_PREFIX=$P
RUN=/tmp/hafw-lab-$P
export HAFW_LAB_SYNC_KEY=config-sync-smoke-key HAFW_LAB_CONFIG_SYNC=1

# shellcheck source=tests/smoke/lib.sh
source "$REPO/tests/smoke/lib.sh"
lab() { "$LAB" "$@"; }
ctl() { local n=$1; shift; "$BUILD/hafwctl" --socket "$RUN/$n.sock" "$@"; }

WORK=$(mktemp -d /tmp/hafw-smoke.XXXXXX)
BG_PIDS=()
teardown() { lab_teardown config_sync $?; }
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $EUID -ne 0 ]]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
for bin in hafwd hafwctl; do
  [[ -x $BUILD/$bin ]] || { echo "SKIP: no $BUILD/$bin"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }

# Edits a node's JSON file in place with a Python expression on `j`.
edit() {  # FILE PYTHON
  python3 - "$1" "$2" <<'EOF'
import json, sys
path, code = sys.argv[1], sys.argv[2]
j = json.load(open(path))
exec(code)
json.dump(j, open(path, "w"), indent=2)
EOF
}

# The "advskew N" of VHID on the node's `hafwctl carp` ("lan: carp: BACKUP
# vhid 2 advbase 1 advskew 100"); empty while it has no such VHID.
skew_of() {  # NODE VHID
  ctl "$1" carp 2>/dev/null | awk -v v="$2" '$2 == "carp:" && $5 == v { print $9 }'
}

lab up >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; fail "lab up"; exit 1; }
check "n1 is MASTER" lab wait n1 MASTER 15
check "n2 is BACKUP" lab wait n2 BACKUP 15
check "n2 receives the primary's configuration at start (hafwctl sync)" \
  bash -c "'$BUILD/hafwctl' --socket '$RUN/n2.sock' sync | grep -Eq 'config sync: taking the primary.s, [1-9][0-9]* received'"

# ---------------------------------------------------------------- a new VIP
edit "$RUN/n1.json" 'j["carp"]["vips"].append({"interface": "lan", "vhid": 2, "addresses": ["192.168.1.50"],
  "password": "smoke-new", "advbase": 1, "advskew": 0, "description": "added on the primary"})'
t0=$(now_ms)
out=$(ctl n1 config reload 2>&1)
check "the primary takes the new VIP (hafwctl config reload)" test $? -eq 0
echo "$out" | head -3
skew=
while (($(now_ms) - t0 < 3000)); do
  skew=$(skew_of n2 2)
  [[ -n $skew ]] && break
  sleep 0.05
done
ms=$(($(now_ms) - t0))
echo "sync_ms=$ms"
check "the secondary shows lan vhid 2 within 1 s (${ms} ms)" test -n "$skew" -a "$ms" -le 1000
check "with advskew 100 (the primary's 0 + 100): got '${skew}'" test "$skew" = 100
check "the primary's own line is advskew 0" test "$(skew_of n1 2)" = 0
check "an event on the secondary says it applied it" \
  bash -c "'$BUILD/hafwctl' --socket '$RUN/n2.sock' events | grep -q 'config sync from 172.16.1.2: applied (.*lan vhid 2 advskew 100)'"
check "the secondary's own addresses stay" \
  bash -c "'$BUILD/hafwctl' --socket '$RUN/n2.sock' --json config | grep -q '192.168.1.3/24'"

# ---------------------------------------------------------------- interface order
lab stop n2 >/dev/null
# n2's file from the lab, with lan before wan (each keeps its port).
edit "$RUN/n2.json" 'j["interfaces"][0], j["interfaces"][1] = j["interfaces"][1], j["interfaces"][0]'
lab start n2 >/dev/null || fail "n2 restarts with lan before wan"
refused=0
for _ in $(seq 1 40); do
  if ctl n2 events 2>/dev/null | grep -q 'config sync from 172.16.1.2: refused: interface order differs: the primary n1 has \[wan, lan, sync\], this node \[lan, wan, sync\]'; then
    refused=1
    break
  fi
  sleep 0.1
done
check "the secondary with another interface order refuses with an event" test $refused -eq 1
check "and runs its own configuration: no lan vhid 2" test -z "$(skew_of n2 2)"
check "hafwctl sync counts the refusal" \
  bash -c "'$BUILD/hafwctl' --socket '$RUN/n2.sock' sync | grep -q 'refused interface_order [1-9]'"
exit 0
