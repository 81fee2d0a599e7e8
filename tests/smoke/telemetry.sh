#!/usr/bin/env bash
# DPDK's own tools against a running hafwd (docs/operations.md, "Telemetry"
# and "Capturing packets"): dpdk-telemetry.py reads hafwd's /hafw/...
# commands with the same numbers as `hafwctl stats`, and DPDK's /ethdev/stats
# with the same packets as `hafwctl status`; dpdk-dumpcap captures a port
# while the workers forward, and tshark reads the capture.
#
#   h  hafwd, 192.168.1.2, VIP 192.168.1.1 (VHID 1)  ── veth ──  c  client 192.168.1.10
#
# Packet capture is a DPDK secondary process, which can attach only to a
# primary whose memory is in hugepages (with --no-huge its EAL stops at
# "Cannot get hugepage information"), so this node runs on hugepages: the
# script reserves HUGE_PAGES 2 MB pages more than the system has, mounts a
# hugetlbfs of its own for them, and gives both back at the end.
#
# Needs root, iproute2, iputils-ping, python3, tshark, dpdk-telemetry.py and
# dpdk-dumpcap (Debian's dpdk-dev), and hafwd/hafwctl under $HAFW_BUILD
# (default <repo>/build). Ends with "telemetry: N passed, M failed".
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HAFW_BUILD:-$REPO/build}
P=${HAFW_SMOKE_PREFIX:-htl$$}
VIP=192.168.1.1 H_IP=192.168.1.2 C_IP=192.168.1.10 VHID=1
PINGS=5 DATAGRAMS=7
HUGE_PAGES=96  # hafwd's -m 128 is 64 of them; dumpcap's ring and pool come out of the rest
WORK=$(mktemp -d /tmp/hafw-telemetry.XXXXXX)
SOCK=$WORK/h.sock
HAFWD_PID=
DUMPCAP_PID=
HUGE_BEFORE=
DPDK_PREFIX=$P-h

# shellcheck source=tests/smoke/lib.sh
source "$REPO/tests/smoke/lib.sh"
hctl() { "$BUILD/hafwctl" --socket "$SOCK" "$@"; }

# tel CMD...: each command's reply from dpdk-telemetry.py, one JSON line each.
tel() { printf '%s\n' "$@" | timeout 20 dpdk-telemetry.py -f "$DPDK_PREFIX"; }
# jpath PATH: the value at a '.'-separated path of the JSON on stdin
# (objects by key, arrays by position; telemetry's keys hold '/').
jpath() {
  python3 -c '
import json, sys
j = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    j = j[int(part)] if isinstance(j, list) else j[part]
print(j if not isinstance(j, (dict, list)) else json.dumps(j, sort_keys=True))' "$1"
}

teardown() {
  local rc=$? left
  trap - EXIT INT TERM
  [[ -n $DUMPCAP_PID ]] && kill "$DUMPCAP_PID" 2>/dev/null
  if [[ -n $HAFWD_PID ]]; then
    kill "$HAFWD_PID" 2>/dev/null
    for _ in {1..30}; do kill -0 "$HAFWD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$HAFWD_PID" 2>/dev/null
  fi
  ((rc == 0 || rc == 77 || failed)) || fail "test aborted (exit $rc)"
  if ((failed)) || ((rc != 0 && rc != 77)); then
    echo "--- last lines of hafwd's log"
    tail -n 20 "$WORK/h.log" 2>/dev/null
    echo "--- dumpcap"
    tail -n 10 "$WORK/dumpcap.log" 2>/dev/null
  fi
  for n in h c; do ip netns del "$P-$n" 2>/dev/null; done
  rm -rf "/var/run/dpdk/$DPDK_PREFIX"
  mountpoint -q "$WORK/huge" && umount "$WORK/huge"
  [[ -n $HUGE_BEFORE ]] && echo "$HUGE_BEFORE" >/proc/sys/vm/nr_hugepages
  left=$(ip netns list | awk -v p="$P-" 'index($1, p) == 1 { print $1 }')
  if [[ -z $left ]] && ! mountpoint -q "$WORK/huge" && [[ ! -e /var/run/dpdk/$DPDK_PREFIX ]] &&
     [[ -z $HUGE_BEFORE || $(</proc/sys/vm/nr_hugepages) == "$HUGE_BEFORE" ]]; then
    pass "teardown leaves no namespace, hugetlbfs, hugepage or DPDK runtime dir of '$P'"
  else
    fail "teardown left: $left $(mountpoint "$WORK/huge" 2>/dev/null) nr_hugepages $(</proc/sys/vm/nr_hugepages) (was $HUGE_BEFORE)"
  fi
  if ((failed)); then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
  echo "telemetry: $passed passed, $failed failed"
  ((failed == 0 && rc == 0)) && exit 0
  ((rc == 77)) && exit 77
  exit 1
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $EUID -ne 0 ]]; then echo "SKIP: needs root (network namespaces, hugepages)"; exit 77; fi
missing=
for tool in ip ping python3 tshark dpdk-telemetry.py dpdk-dumpcap mountpoint; do
  command -v "$tool" >/dev/null || missing+=" $tool"
done
for bin in hafwd hafwctl; do [[ -x $BUILD/$bin ]] || missing+=" $BUILD/$bin"; done
if [[ -n $missing ]]; then
  fail "prerequisites: missing$missing (tools/install-deps; ninja -C build)"
  exit 1
fi

# ---------------------------------------------------------------- hugepages

HUGE_BEFORE=$(</proc/sys/vm/nr_hugepages)
free_before=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
echo $((HUGE_BEFORE + HUGE_PAGES)) >/proc/sys/vm/nr_hugepages 2>/dev/null
free_now=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
mkdir -p "$WORK/huge"
if ((free_now - free_before >= HUGE_PAGES)) && mount -t hugetlbfs -o pagesize=2M nodev "$WORK/huge"; then
  pass "reserved $HUGE_PAGES hugepages of 2 MB, on a hugetlbfs of this test's own"
else
  fail "cannot reserve $HUGE_PAGES hugepages of 2 MB ($((free_now - free_before)) came free): packet capture needs them"
  exit 1
fi

# ---------------------------------------------------------------- topology

for n in h c; do
  ip netns add "$P-$n"
  inns "$n" ip link set lo up
  inns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$P-h" link add lan type veth peer name eth0 netns "$P-c"
hafwd_port h lan
inns c ip addr add "$C_IP/24" dev eth0
inns c ip link set eth0 up

# ---------------------------------------------------------------- hafwd

mkdir -p "$WORK/h-state"
cat >"$WORK/h.json" <<JSON
{
  "node": {"name": "h", "role": "primary"},
  "dataplane": {"eal": ["--huge-dir", "$WORK/huge", "-m", "128", "--no-pci", "--file-prefix", "$DPDK_PREFIX",
                        "-l", "0-1", "--vdev=net_af_packet0,iface=lan", "--log-level", "lib.eal:error"],
                "workers": 1},
  "interfaces": [{"name": "lan", "port": "net_af_packet0", "address": "$H_IP/24", "peer": "192.168.1.3"}],
  "carp": {"preempt": true, "vips": [
    {"interface": "lan", "vhid": $VHID, "addresses": ["$VIP"], "password": "lab-lan", "advbase": 1, "advskew": 0}]},
  "control": {"socket": "$SOCK", "state_dir": "$WORK/h-state"}
}
JSON

ip netns exec "$P-h" "$BUILD/hafwd" --config "$WORK/h.json" >"$WORK/h.log" 2>&1 </dev/null &
HAFWD_PID=$!
t0=$(now_ms)
until hctl carp 2>/dev/null | grep -q MASTER; do
  if (($(now_ms) - t0 > 20000)) || ! kill -0 "$HAFWD_PID" 2>/dev/null; then
    fail "hafwd MASTER for VHID $VHID within 20 s"
    exit 1
  fi
  sleep 0.1
done
pass "hafwd up on hugepages and MASTER ($(($(now_ms) - t0)) ms)"
check "the telemetry socket is there: /var/run/dpdk/$DPDK_PREFIX/dpdk_telemetry.v2" \
  test -S "/var/run/dpdk/$DPDK_PREFIX/dpdk_telemetry.v2"
help=$(tel /help,/hafw/stats)
check "/help names /hafw/stats" eval '[[ $(jpath /help./hafw/stats <<<"$help") == *"hafwctl stats"* ]]'

# ---------------------------------------------------------------- capture

# Only ICMP (the capture filter runs in hafwd's workers, as BPF): the pings
# and their replies, not the adverts.
ip netns exec "$P-h" timeout 90 dpdk-dumpcap --file-prefix="$DPDK_PREFIX" -i net_af_packet0 -f icmp \
  -c $((2 * PINGS)) -w "$WORK/cap.pcapng" >"$WORK/dumpcap.log" 2>&1 </dev/null &
DUMPCAP_PID=$!
t0=$(now_ms)
# It writes "Packets captured:" once hafwd has installed the capture.
until grep -q "Packets captured" "$WORK/dumpcap.log" 2>/dev/null; do
  if (($(now_ms) - t0 > 30000)) || ! kill -0 "$DUMPCAP_PID" 2>/dev/null; then break; fi
  sleep 0.1
done
check "dpdk-dumpcap attaches to hafwd and captures net_af_packet0" grep -q "Packets captured" "$WORK/dumpcap.log"

check "$PINGS pings to the VIP answered while dumpcap captures" \
  inns c ping -c "$PINGS" -i 0.2 -W 2 -q "$VIP"
# Datagrams to the VIP: nothing serves UDP there, so each is dropped as
# local_unsupported, a counter only this traffic moves.
inns c python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"hafw", (sys.argv[1], 9))' "$VIP" "$DATAGRAMS"

# The capture file is written as packets come: read it while dumpcap ends.
count_icmp() {
  requests=$(tshark -r "$WORK/cap.pcapng" -Y "icmp.type == 8 && ip.dst == $VIP" 2>/dev/null | wc -l)
  replies=$(tshark -r "$WORK/cap.pcapng" -Y "icmp.type == 0 && ip.src == $VIP" 2>/dev/null | wc -l)
  ((requests == PINGS && replies == PINGS))
}
for _ in {1..40}; do count_icmp && break; sleep 0.5; done
check "tshark reads the capture: $requests echo requests and $replies replies of the VIP ($PINGS each)" count_icmp

# -c: it stops by itself and asks hafwd to take its capture off the port.
# Its exit takes seconds on a loaded machine.
t0=$(now_ms)
for _ in {1..900}; do kill -0 "$DUMPCAP_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DUMPCAP_PID" 2>/dev/null; then
  fail "dpdk-dumpcap stops after $((2 * PINGS)) packets (within 90 s)"
  for pid in $(pgrep -f "dpdk-dumpcap --file-prefix=$DPDK_PREFIX"); do  # where it waits
    for t in /proc/"$pid"/task/*; do
      echo "dumpcap $pid thread $(<"$t/comm"): $(<"$t/wchan") $(awk '{ print $3 }' "$t/stat")"
      head -n 12 "$t/stack" 2>/dev/null | sed 's/^/    /'
    done
  done
  kill -INT "$DUMPCAP_PID" 2>/dev/null
else
  pass "dpdk-dumpcap stops after $((2 * PINGS)) packets ($(($(now_ms) - t0)) ms after the capture was read)"
fi
wait "$DUMPCAP_PID" 2>/dev/null
DUMPCAP_PID=

# A second capture of the same port works only if the first one's is off
# (DPDK refuses a second: "rx callback ... already exists"). Unfiltered: the
# first two frames are the adverts hafwd sends every second as MASTER.
ip netns exec "$P-h" timeout 90 dpdk-dumpcap --file-prefix="$DPDK_PREFIX" -i net_af_packet0 -c 2 \
  -w "$WORK/cap2.pcapng" >"$WORK/dumpcap2.log" 2>&1 </dev/null
rc=$?
adverts=$(tshark -r "$WORK/cap2.pcapng" -Y "ip.proto == 112 && ip.src == $H_IP" 2>/dev/null | wc -l)
check "a second capture of the port after the first: exit $rc, $adverts CARP adverts of the node (2)" \
  eval '((rc == 0 && adverts == 2))'

# ---------------------------------------------------------------- telemetry

stats_ctl=$(hctl --json stats)
status_ctl=$(hctl --json status)
mapfile -t tel_out < <(tel /hafw/stats /hafw/carp /ethdev/stats,0 /hafw/stats,dataplane/drops/local_unsupported \
                           /hafw/stats,no_such_part /hafw/status)
check "dpdk-telemetry.py answers all 6 commands" eval '((${#tel_out[@]} == 6))'
stats_tel=${tel_out[0]:-"{}"}

want=$(jpath dataplane.drops.local_unsupported <<<"$stats_ctl")
got=$(jpath /hafw/stats.dataplane.drops.local_unsupported <<<"$stats_tel")
check "/hafw/stats: local_unsupported $got, as hafwctl stats ($want) and as sent ($DATAGRAMS)" \
  eval '[[ $got == "$want" && $got == "$DATAGRAMS" ]]'
want=$(jpath dataplane.rx <<<"$stats_ctl")
got=$(jpath /hafw/stats.dataplane.rx <<<"$stats_tel")
check "/hafw/stats: dataplane rx $got, as hafwctl stats ($want)" eval '[[ -n $got && $got == "$want" ]]'
want=$(jpath carp.drops <<<"$stats_ctl")
got=$(jpath /hafw/stats.carp.drops <<<"$stats_tel")
check "/hafw/stats: carp drops by reason as hafwctl stats" eval '[[ $got == "$want" && $got == *bad_auth* ]]'
got=$(jpath /hafw/carp.vhids.0.state <<<"${tel_out[1]:-"{}"}")
check "/hafw/carp: VHID $VHID is $got" eval '[[ $got == MASTER ]]'
want=$(jpath interfaces.0.rx_packets <<<"$status_ctl")
got=$(jpath /ethdev/stats.ipackets <<<"${tel_out[2]:-"{}"}")
check "/ethdev/stats,0: ipackets $got, as hafwctl status rx_packets ($want)" \
  eval '[[ -n $got && $got == "$want" ]] && ((got >= PINGS + DATAGRAMS))'
got=$(jpath /hafw/stats.local_unsupported <<<"${tel_out[3]:-"{}"}")
check "/hafw/stats,dataplane/drops/local_unsupported answers that counter alone ($got)" \
  eval '[[ $got == "$DATAGRAMS" ]]'
got=$(jpath /hafw/stats.parts <<<"${tel_out[4]:-"{}"}")
check "/hafw/stats,no_such_part names the parts there are" eval '[[ $got == *dataplane*state_table* ]]'
got=$(jpath /hafw/status.interfaces.0.name <<<"${tel_out[5]:-"{}"}")
check "/hafw/status: interface 0 is $got" eval '[[ $got == lan ]]'

# The 5 /hafw/ commands above, each answered in time (DPDK's own, /help and
# /ethdev/stats, are not hafwd's).
stats_ctl=$(hctl --json stats)
asked=$(jpath control.telemetry.requests <<<"$stats_ctl")
late=$(jpath control.telemetry.timeouts <<<"$stats_ctl")
check "hafwctl stats counts them: control.telemetry requests $asked (5), timeouts $late (0)" \
  eval '((asked == 5 && late == 0))'

# The node kept working through all of it.
check "hafwd still MASTER after capture and telemetry" eval 'hctl carp | grep -q MASTER'
check "hafwd logged no error" eval '! grep -qiE "\\berror|cannot" "$WORK/h.log"'
