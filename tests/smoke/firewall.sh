#!/usr/bin/env bash
# The firewall in the netns lab (tools/lab, docs/lab.md), as its users see it:
# the LAN client reaches the WAN server through outbound NAT (the server sees
# the WAN VIP, and has no route back to the LAN at all); a port forward on the
# WAN VIP reaches the LAN host; the WAN server cannot open a connection into
# the LAN, and the rule that blocks it counts; and when the state table is
# full, new flows are refused while the connections it holds go on.
#
# Needs root, iproute2, iputils-ping, iperf3, and hafwd/hafwctl under
# $HAFW_BUILD (default <repo>/build). Prints PASS/FAIL per step and ends with
# "firewall: N passed, M failed"; exits non-zero on any failure.
set -uo pipefail  # no -e: every step is checked and reported

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$REPO/tools/lab/lab
BUILD=${HAFW_BUILD:-$REPO/build}
export HAFW_BUILD=$BUILD
P=${HAFW_SMOKE_PREFIX:-hfw$$}
export HAFW_LAB_PREFIX=$P
RUN=/tmp/hafw-lab-$P
# A small table, so that step 5 can fill it with a handful of flows.
MAX_STATES=48
export HAFW_LAB_MAX_STATES=$MAX_STATES

# The lab's plan (tools/lab/lab).
CLIENT=192.168.1.10 SERVER=198.51.100.10 WAN_VIP=198.51.100.200 LAN_NET=192.168.1.0/24
FORWARD_PORT=8080 TARGET_PORT=5201 BLOCK_RULE=3
CLIENT6=2001:db8:1::10 SERVER6=2001:db8:51::10

# shellcheck source=tests/smoke/lib.sh
source "$REPO/tests/smoke/lib.sh"
lab() { "$LAB" "$@"; }
ctl() { "$BUILD/hafwctl" --socket "$RUN/$1.sock" "${@:2}"; }

WORK=$(mktemp -d /tmp/hafw-smoke-fw.XXXXXX)
BG_PIDS=()

teardown() { lab_teardown firewall $?; }
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A counter out of n1's stats JSON, by jq-less path: "drops.rule_block" etc.
counter() {
  ctl n1 --json stats | python3 -c '
import json, sys
j = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    j = j[int(part)] if isinstance(j, list) else j[part]
print(j)' "$1"
}

# Starts a one-shot iperf3 server in NS on PORT logging to FILE, and waits
# until it listens.
iperf_server() {
  local ns=$1 port=$2 file=$3 i
  ip netns exec "$P-$ns" iperf3 -s -1 -p "$port" --logfile "$file" &
  BG_PIDS+=($!)
  for ((i = 0; i < 50; i++)); do
    inns "$ns" ss -ltn 2>/dev/null | grep -q ":$port " && return 0
    sleep 0.1
  done
  return 1
}

if [[ $EUID -ne 0 ]]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
missing=
for tool in ip ping iperf3 python3 ss; do command -v "$tool" >/dev/null || missing+=" $tool"; done
for bin in hafwd hafwctl; do [[ -x $BUILD/$bin ]] || missing+=" $BUILD/$bin"; done
if [[ -n $missing ]]; then
  fail "prerequisites: missing$missing (tools/install-deps; ninja -C build)"
  exit 1
fi

# Step 1: the pair is up and n1 is MASTER.
if lab up >"$WORK/up.log" 2>&1; then pass "lab up (max_states $MAX_STATES)"; else fail "lab up"; cat "$WORK/up.log"; exit 1; fi
check "n1 MASTER on wan and lan" lab wait n1 MASTER 10
check "the server has no route to the LAN" eval '! inns srv ip route show | grep -q "^192\.168\.1\."' 

# Step 2: outbound NAT. The client's TCP connection reaches the server, which
# sees the WAN VIP as its peer.
iperf_server srv 5201 "$WORK/srv-iperf.log" || fail "iperf3 server on srv"
check "client -> server TCP through the firewall (iperf3, 1 s)" \
  inns cli iperf3 -c "$SERVER" -t 1 --connect-timeout 3000 -J --logfile "$WORK/cli-iperf.json"
check "the server sees the connection from the WAN VIP $WAN_VIP" \
  grep -q "Accepted connection from $WAN_VIP" "$WORK/srv-iperf.log"
inns cli ping -c 2 -i 0.2 -W 1 "$SERVER" >"$WORK/ping.log" 2>&1
check "client pings the server through NAT" grep -q " 0% packet loss" "$WORK/ping.log"
ctl n1 states >"$WORK/states.txt"
check "hafwctl states shows the translated TCP state (as $WAN_VIP:port)" \
  grep -qE "^tcp $CLIENT:[0-9]+ -> $SERVER:5201 \(as $WAN_VIP:[0-9]+\)" "$WORK/states.txt"

# Step 2b: dual stack. The same client reaches the same server over IPv6,
# routed through the IPv6 VIPs (n1 is MASTER) and passed by the LAN's IPv6 rule, not
# translated: the server sees the client's own address.
inns cli ping -6 -c 2 -i 0.2 -W 1 "$SERVER6" >"$WORK/ping6.log" 2>&1
check "client pings the server over IPv6 through the firewall" grep -q " 0% packet loss" "$WORK/ping6.log"
iperf_server srv 5203 "$WORK/srv-iperf6.log" || fail "iperf3 server on srv (5203)"
check "client -> server TCP over IPv6 (iperf3, 1 s)" \
  inns cli iperf3 -6 -c "$SERVER6" -p 5203 -t 1 --connect-timeout 3000 -J --logfile "$WORK/cli-iperf6.json"
check "the server sees the client's own IPv6 address $CLIENT6 (no NAT66)" \
  grep -q "Accepted connection from $CLIENT6" "$WORK/srv-iperf6.log"
ctl n1 states >"$WORK/states6.txt"
check "hafwctl states shows the IPv6 TCP state" grep -qF "tcp [$CLIENT6]:" "$WORK/states6.txt"
before6=$(counter dataplane.drops.default_block)
if inns srv timeout 3 bash -c "exec 3<>/dev/tcp/$CLIENT6/22" 2>/dev/null; then
  fail "server -> client:22 over IPv6 is blocked (it connected)"
else
  pass "server -> client:22 over IPv6 gets no answer"
fi
check "and is counted as default_block" eval '(($(counter dataplane.drops.default_block) > before6))'

# Step 3: the port forward on the WAN VIP reaches the LAN host, which sees
# the server's own address.
iperf_server cli "$TARGET_PORT" "$WORK/cli-iperf.log" || fail "iperf3 server on cli"
check "server -> WAN VIP:$FORWARD_PORT reaches the client's port $TARGET_PORT (iperf3, 1 s)" \
  inns srv iperf3 -c "$WAN_VIP" -p "$FORWARD_PORT" -t 1 --connect-timeout 3000 -J --logfile "$WORK/srv-iperf.json"
check "the client sees the server's own address $SERVER" grep -q "Accepted connection from $SERVER" "$WORK/cli-iperf.log"

# Step 4: the server cannot open a connection into the LAN, even with a
# route: rule $BLOCK_RULE blocks it and its counter moves.
before=$(counter "rules.$BLOCK_RULE.matches")
inns srv ip route add "$LAN_NET" via "$WAN_VIP"
if inns srv timeout 3 bash -c "exec 3<>/dev/tcp/$CLIENT/22" 2>/dev/null; then
  fail "server -> client:22 is blocked (it connected)"
else
  pass "server -> client:22 gets no answer"
fi
inns srv ip route del "$LAN_NET" via "$WAN_VIP"
after=$(counter "rules.$BLOCK_RULE.matches")
check "the block rule counted it (matches $before -> $after)" eval '((after > before))'
check "and the drop is counted as rule_block" eval '(($(counter dataplane.drops.rule_block) > 0))'

# Step 5: fill the table. A TCP connection is open first; then the client
# sends to many UDP ports, one new state each, until the table is full. New
# flows are refused; the open connection goes on.
iperf_server srv 5202 "$WORK/srv-iperf2.log" || fail "iperf3 server on srv (5202)"
inns cli iperf3 -c "$SERVER" -p 5202 -t 4 --connect-timeout 3000 -b 10M -J >"$WORK/long.json" 2>&1 &
long=$!
BG_PIDS+=("$long")
sleep 1
inns cli bash -c "for p in \$(seq 20000 20199); do echo x >/dev/udp/$SERVER/\$p; done" 2>/dev/null
full=$(counter dataplane.drops.state_table_full)
check "new flows are refused when the table is full ($full refused, $(counter state_table.states) of $MAX_STATES states)" \
  eval '((full > 0))'
check "the connection opened before goes on to its end" wait "$long"
check "and moved data after the table filled" \
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); ints=j["intervals"]; sys.exit(0 if len(ints) >= 4 and all(i["sum"]["bytes"] > 0 for i in ints[-3:]) else 1)' "$WORK/long.json"
