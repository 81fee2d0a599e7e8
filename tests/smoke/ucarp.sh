#!/usr/bin/env bash
# Live CARP interop: hafwd and a real ucarp (Debian's package) share VHID 1
# with one IPv4 VIP on a netns bridge, and elect with each other both ways.
#
#   h  hafwd,  192.168.1.2, advskew 0, preempt      ─┐
#   u  ucarp,  192.168.1.3, advskew 100, preempt     ├─ bridge (switch namespace)
#                                                    ─┘
# Asserts: hafwd (lower skew) is MASTER and ucarp stays BACKUP; SIGKILL of
# hafwd makes ucarp MASTER; the restarted hafwd authenticates ucarp's adverts
# (no bad_auth) and preempts it back, and ucarp yields to hafwd's adverts;
# hafwd's maintenance mode (bow-out, skew 254) hands the VIP to ucarp and
# leaving it takes it back. ucarp reports its state through its up/down
# scripts. Needs root, iproute2, ucarp, and hafwd/hafwctl under $HAFW_BUILD
# (default <repo>/build). Ends with "ucarp: N passed, M failed".
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HAFW_BUILD:-$REPO/build}
P=${HAFW_SMOKE_PREFIX:-huc$$}
VIP=192.168.1.1 H_IP=192.168.1.2 U_IP=192.168.1.3 VHID=1 PASS=lab-lan
WORK=$(mktemp -d /tmp/hafw-ucarp.XXXXXX)
SOCK=$WORK/h.sock
HAFWD_PID=
UCARP_PID=

# shellcheck source=tests/smoke/lib.sh
source "$REPO/tests/smoke/lib.sh"
hctl() { "$BUILD/hafwctl" --socket "$SOCK" "$@"; }

# hafwd's state for the VHID ("MASTER", ...), ucarp's from its scripts.
h_state() { hctl carp 2>/dev/null | awk '$2 == "carp:" { print $3 }'; }
u_state() { cat "$WORK/ucarp.state" 2>/dev/null; }
# check_within "STEP" WHAT WANT TIMEOUT_MS: wait_for, reporting how long it took.
check_within() {
  local step=$1 t0
  shift
  t0=$(now_ms)
  if wait_for "$@"; then pass "$step ($(($(now_ms) - t0)) ms)"; else fail "$step (not within $3 ms)"; fi
}
# wait_for WHAT WANT TIMEOUT_MS: poll every 100 ms.
wait_for() {
  local what=$1 want=$2 timeout=$3 t0
  t0=$(now_ms)
  while [[ $($what) != "$want" ]]; do
    (($(now_ms) - t0 > timeout)) && return 1
    sleep 0.1
  done
}

teardown() {
  local rc=$? left
  trap - EXIT INT TERM
  [[ -n $UCARP_PID ]] && kill "$UCARP_PID" 2>/dev/null
  [[ -n $HAFWD_PID ]] && kill "$HAFWD_PID" 2>/dev/null
  sleep 0.3
  [[ -n $HAFWD_PID ]] && kill -9 "$HAFWD_PID" 2>/dev/null
  if ((failed)) || ((rc != 0 && rc != 77)); then
    echo "--- last lines of hafwd's log"
    tail -n 20 "$WORK/h.log" 2>/dev/null
  fi
  for n in h u sw; do ip netns del "$P-$n" 2>/dev/null; done
  rm -rf "/var/run/dpdk/$P-h" "$WORK"
  left=$(ip netns list | awk -v p="$P-" 'index($1, p) == 1 { print $1 }')
  if [[ -z $left ]]; then pass "teardown leaves no namespace of '$P'"; else fail "teardown left: $left"; fi
  echo "ucarp: $passed passed, $failed failed"
  ((failed == 0 && rc == 0)) && exit 0
  ((rc == 77)) && exit 77
  exit 1
}
trap teardown EXIT
trap 'exit 130' INT TERM

if [[ $EUID -ne 0 ]]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
missing=
for tool in ip ucarp; do command -v "$tool" >/dev/null || missing+=" $tool"; done
for bin in hafwd hafwctl; do [[ -x $BUILD/$bin ]] || missing+=" $BUILD/$bin"; done
if [[ -n $missing ]]; then
  fail "prerequisites: missing$missing (tools/install-deps; ninja -C build)"
  exit 1
fi

# ---------------------------------------------------------------- topology

for n in sw h u; do
  ip netns add "$P-$n"
  inns "$n" ip link set lo up
  inns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$P-sw" link add br0 type bridge stp_state 0 mcast_snooping 0
ip -n "$P-sw" link set br0 up
ip -n "$P-sw" link add port-h type veth peer name lan netns "$P-h"
ip -n "$P-sw" link add port-u type veth peer name eth0 netns "$P-u"
for p in port-h port-u; do ip -n "$P-sw" link set "$p" master br0 up; done
hafwd_port h lan
inns u ip addr add "$U_IP/24" dev eth0
inns u ip link set eth0 up

# ---------------------------------------------------------------- hafwd

mkdir -p "$WORK/h-state"
cat >"$WORK/h.json" <<JSON
{
  "node": {"name": "h", "role": "primary"},
  "dataplane": {"eal": ["--no-huge", "-m", "512", "--no-pci", "--file-prefix", "$P-h", "-l", "0-1",
                        "--vdev=net_af_packet0,iface=lan", "--log-level", "lib.eal:error"], "workers": 1},
  "interfaces": [{"name": "lan", "port": "net_af_packet0", "address": "$H_IP/24", "peer": "$U_IP"}],
  "carp": {"preempt": true, "vips": [
    {"interface": "lan", "vhid": $VHID, "addresses": ["$VIP"], "password": "$PASS", "advbase": 1, "advskew": 0}]},
  "control": {"socket": "$SOCK", "state_dir": "$WORK/h-state"}
}
JSON
check "hafwctl check accepts the config" eval '"$BUILD/hafwctl" check "$WORK/h.json" >/dev/null'

start_hafwd() {
  rm -f "$SOCK" "$WORK/h.pid"
  ip netns exec "$P-h" setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' start "$WORK/h.pid" \
    "$BUILD/hafwd" --config "$WORK/h.json" >>"$WORK/h.log" 2>&1 </dev/null &
  disown $! 2>/dev/null  # we kill it on purpose: no "Killed" from bash
  local t0
  t0=$(now_ms)
  until [[ -s $WORK/h.pid ]] && hctl carp >/dev/null 2>&1; do
    (($(now_ms) - t0 > 15000)) && return 1
    sleep 0.1
  done
  HAFWD_PID=$(<"$WORK/h.pid")
}

# ---------------------------------------------------------------- ucarp

for s in up down; do
  state=MASTER
  [[ $s == down ]] && state=BACKUP
  printf '#!/bin/sh\n# ucarp calls this with: interface, VIP, the -x value\necho %s >"$3"\n' "$state" >"$WORK/$s.sh"
  chmod +x "$WORK/$s.sh"
done
echo BACKUP >"$WORK/ucarp.state"  # -n: no down script at start

start_ucarp() {
  ip netns exec "$P-u" ucarp -i eth0 -s "$U_IP" -v "$VHID" -p "$PASS" -a "$VIP" -b 1 -k 100 -P -n \
    -u "$WORK/up.sh" -d "$WORK/down.sh" -x "$WORK/ucarp.state" >>"$WORK/ucarp.log" 2>&1 &
  UCARP_PID=$!
}

# ---------------------------------------------------------------- steps

check "hafwd starts" start_hafwd
check "hafwd MASTER with no peer (master-down 3 s)" wait_for h_state MASTER 6000
start_ucarp
sleep 4
check "ucarp (skew 100) stays BACKUP next to hafwd (skew 0)" eval '[[ $(u_state) == BACKUP ]]'
check "hafwd stays MASTER" eval '[[ $(h_state) == MASTER ]]'

kill -9 "$HAFWD_PID"
HAFWD_PID=
check_within "ucarp MASTER after SIGKILL of hafwd" u_state MASTER 6000

rm -rf "/var/run/dpdk/$P-h"
check "hafwd restarts" start_hafwd
check_within "restarted hafwd preempts ucarp: MASTER after its start" h_state MASTER 6000
check "ucarp yields to hafwd's adverts: BACKUP" wait_for u_state BACKUP 3000
status=$(hctl --json carp)
received=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["vhids"][0]["adverts_received"])' <<<"$status")
bad=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["vhids"][0]["bad_auth"])' <<<"$status")
check "hafwd authenticated ucarp's adverts ($received received, $bad with a bad HMAC)" \
  eval '((received >= 1 && bad == 0))'

hctl carp maintenance on >/dev/null
check_within "hafwd maintenance: ucarp MASTER (bow-out)" u_state MASTER 3000
check "hafwd BACKUP in maintenance" wait_for h_state BACKUP 3000
hctl carp maintenance off >/dev/null
check "maintenance off: hafwd MASTER again" wait_for h_state MASTER 4000
check "maintenance off: ucarp BACKUP again" wait_for u_state BACKUP 3000
