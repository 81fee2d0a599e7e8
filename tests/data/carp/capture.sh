#!/usr/bin/env bash
# Re-makes the ucarp-*.pcap known-answer captures of this directory (see
# README.md). Needs root, iproute2, tcpdump and Debian's ucarp. Each case gets
# a namespace with one end of a veth pair; ucarp runs alone there, becomes
# MASTER after its master-down interval and advertises; tcpdump on the other
# end keeps the first three adverts.
set -euo pipefail
cd "$(dirname "$0")"
P=hafwcap$$
cleanup() {
  for n in a b c; do ip netns del "$P$n" 2>/dev/null || true; ip link del "$P$n" 2>/dev/null || true; done
}
trap cleanup EXIT

# name  vhid  password  vip  source  advbase  advskew
CASES=(
  "vhid1-skew0 1 secret 10.0.0.100 10.0.0.2 1 0"
  "vhid42-skew100 42 hafw-interop 192.0.2.10 192.0.2.3 1 100"
  "vhid200-base2-skew250 200 0123456789abcdefghi 198.51.100.50 198.51.100.2 2 250"
)

capture() {  # ns name vhid pass vip src base skew
  local ns=$1 name=$2 vhid=$3 pass=$4 vip=$5 src=$6 base=$7 skew=$8
  ip netns add "$ns"
  ip link add "$ns" type veth peer name eth0 netns "$ns"
  ip link set "$ns" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$src/24" dev eth0
  ip -n "$ns" link set eth0 up
  tcpdump -i "$ns" -U -c 3 -w "ucarp-$name.pcap" 'ip proto 112' 2>/dev/null &
  local dump=$!
  sleep 0.5
  ip netns exec "$ns" ucarp -i eth0 -s "$src" -v "$vhid" -p "$pass" -a "$vip" -b "$base" -k "$skew" \
    -u /bin/true -d /bin/true >/dev/null 2>&1 &
  local carp=$!
  wait "$dump"
  kill "$carp"
  wait "$carp" 2>/dev/null || true
}

i=0
pids=()
for c in "${CASES[@]}"; do
  # shellcheck disable=SC2086
  capture "$P$(printf '%s' abc | cut -c$((i + 1)))" $c &
  pids+=($!)
  i=$((i + 1))
done
for p in "${pids[@]}"; do wait "$p"; done
ls -l ucarp-*.pcap
