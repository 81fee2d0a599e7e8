# Shared by the smoke scripts (sourced, not run): step reporting and time.
# A script sets P (its namespace prefix) before it uses inns.

passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() {  # check "step" command...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
now_ms() { local t=${EPOCHREALTIME/./}; echo "$((t / 1000))"; }
inns() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }
# The kernel side of an af_packet port hafwd takes over in namespace N: it
# carries no kernel address, so the kernel must not answer ARP, and no
# offloads (a partial checksum or a GSO super-frame reaches the PMD as is).
hafwd_port() {  # hafwd_port N IFACE
  inns "$1" sysctl -qw net.ipv4.conf.all.arp_ignore=8
  command -v ethtool >/dev/null && inns "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1
  inns "$1" ip link set "$2" up
}

# The end of a script that runs a lab (tools/lab/lab): with P its prefix, RUN
# the lab's run dir, WORK the script's scratch dir and BG_PIDS its background
# processes. Stops those, keeps the daemons' logs and configs on failure,
# takes the lab down and checks it left nothing (a step of its own), then
# prints "NAME: N passed, M failed" and exits: 0 if all passed, 77 for a
# skip, 1 otherwise. Call it from the EXIT trap with the script's status.
lab_teardown() {  # NAME RC
  local name=$1 rc=$2 pid left f
  trap - EXIT INT TERM
  for pid in ${BG_PIDS[@]+"${BG_PIDS[@]}"}; do kill "$pid" 2>/dev/null; done
  ((rc == 0 || rc == 77 || failed)) || fail "test aborted (exit $rc)"
  if ((failed)) || ((rc != 0 && rc != 77)); then
    # lab down removes the run dir: keep the daemons' logs for the post-mortem.
    cp "$RUN"/*.log "$RUN"/*.json "$WORK"/ 2>/dev/null
    for f in "$WORK"/n1.log "$WORK"/n2.log; do
      [[ -f $f ]] && { echo "--- last lines of $(basename "$f")"; tail -n 15 "$f"; }
    done
  fi
  "$REPO/tools/lab/lab" down >/dev/null
  left=$(ip netns list | awk -v p="$P-" 'index($1, p) == 1 { print $1 }')
  if [[ -z $left && ! -e $RUN ]] && ! ls -d /var/run/dpdk/hafw-"$P"-* >/dev/null 2>&1; then
    pass "teardown leaves no namespace, run dir or DPDK runtime dir of '$P'"
  else
    fail "teardown left behind: ${left//$'\n'/ } $(ls -d "$RUN" /var/run/dpdk/hafw-"$P"-* 2>/dev/null | tr '\n' ' ')"
  fi
  if ((failed)); then
    echo "captures and logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  echo "$name: $passed passed, $failed failed"
  ((failed == 0 && rc == 0)) && exit 0
  ((rc == 77)) && exit 77
  exit 1
}
