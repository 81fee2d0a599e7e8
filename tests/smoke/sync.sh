#!/usr/bin/env bash
# State sync in the netns lab (tools/lab, docs/lab.md): a SIGKILL failover
# loses no connection.
#
# Long-lived TCP connections and UDP flows (tools/lab/conntest) run through
# both kinds of translation the lab's firewall does: outbound NAT (client ->
# server, seen from the WAN VIP) and the port forward (server -> WAN VIP:8080
# -> client:5201). Asserts that both nodes report a finished bulk sync and
# hear each other (hafwctl sync); that the backup holds every state of the
# test with the master's translation before the crash; that after SIGKILL of
# the master every connection and flow goes on through the backup, which
# made no new states for them; that the restarted primary takes the peer's
# table (bulk) before it takes MASTER back, and the connections survive that
# failback too; and that 1000 fresh connections survive a crash with 1% of
# the sync frames lost (netem). All of it with the lab's default CARP timers
# (advbase 1) and again with sub-second ones (advbase 0, skews 1,3).
#
# Needs root, iproute2 (ip, tc), python3, and hafwd/hafwctl under $HAFW_BUILD
# (default <repo>/build). HAFW_SYNC_SCENARIOS="default fast" (the default)
# picks the timer scenarios. Prints PASS/FAIL per step, the connection counts
# and gaps, and ends with "sync: N passed, M failed"; exits non-zero on any
# failure.
set -uo pipefail  # no -e: every step is checked and reported

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$REPO/tools/lab/lab
CONNTEST=$REPO/tools/lab/conntest
BUILD=${HAFW_BUILD:-$REPO/build}
export HAFW_BUILD=$BUILD
P=${HAFW_SMOKE_PREFIX:-hsy$$}
export HAFW_LAB_PREFIX=$P
RUN=/tmp/hafw-lab-$P
SCENARIOS=${HAFW_SYNC_SCENARIOS:-default fast}

# The lab's plan (tools/lab/lab).
SERVER=198.51.100.10 WAN_VIP=198.51.100.200 FORWARD_PORT=8080 TARGET_PORT=5201
ECHO_TCP=7000 ECHO_UDP=7001  # the server's echo ports, reached through outbound NAT
# The loss step's own server port: a server socket the earlier traffic left
# behind (when a failover killed it) can never share a 4-tuple with a new one.
ECHO_TCP_LOSS=7002
# The traffic: connections and flows through outbound NAT and through the
# port forward, a message on each every INTERVAL_MS; then LOSS_CONNS fresh
# connections for the lossy sync link, of which at most 0.1% may die.
NAT_CONNS=200 NAT_FLOWS=20 PF_CONNS=20 PF_FLOWS=5 INTERVAL_MS=200
LOSS_CONNS=1000 LOSS_PERCENT=1
# Not what is measured, only a sanity bound on the largest gap between two
# echoes: TCP's retransmission backs off to about 6 s behind a 3.4 s
# master-down interval.
GAP_BOUND_MS=10000
# How long the restarted primary may take for its bulk sync on top of CARP's
# own failback time.
BULK_ALLOW_MS=5000

# shellcheck source=tests/smoke/lib.sh
source "$REPO/tests/smoke/lib.sh"
lab() { "$LAB" "$@"; }
ctl() { "$BUILD/hafwctl" --socket "$RUN/$1.sock" "${@:2}"; }

WORK=$(mktemp -d /tmp/hafw-smoke-sync.XXXXXX)
BG_PIDS=()

teardown() { lab_teardown sync $?; }
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

# JSON questions, answered by one small python program (no jq needed).
cat >"$WORK/q.py" <<'EOF'
import json, sys

def load(f):
    with open(f) as fh:
        return json.load(fh)

def flows(readies):
    """(protocol, local address) of every connection and flow of the test,
    from conntest's ready files."""
    out = []
    for r in readies:
        j = load(r)
        out += [("tcp", a) for a in j["tcp"]] + [("udp", a) for a in j["udp"]]
    return out

def keys(states_file, readies):
    """The test's states in a states.list reply: (protocol, src) -> the rest
    of the state's key pair and its translation."""
    by = {(s["protocol"], s["src"]): s for s in load(states_file)["states"]}
    res, ids = {}, {}
    for p, a in flows(readies):
        s = by.get((p, a))
        if s:
            res[f"{p} {a}"] = [s["dst"], s["reply_src"], s["reply_dst"], (s.get("nat") or {}).get("to")]
            ids[f"{p} {a}"] = [s["id"], s["creator"]]
    res["_ids"] = ids
    return res

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "keys":  # STATES_JSON OUT READY...
    with open(args[1], "w") as f:
        json.dump(keys(args[0], args[2:]), f, indent=1, sort_keys=True)
elif cmd == "compare":  # A_KEYS B_KEYS READY...: "total in_a in_b same same_id", then a few differences
    a, b = load(args[0]), load(args[1])
    ia, ib = a.get("_ids", {}), b.get("_ids", {})
    fl = [f"{p} {l}" for p, l in flows(args[2:])]
    same = sum(1 for k in fl if k in a and a.get(k) == b.get(k))
    same_id = sum(1 for k in fl if k in ia and ia.get(k) == ib.get(k))
    print(len(fl), sum(1 for k in fl if k in a), sum(1 for k in fl if k in b), same, same_id)
    for k in [k for k in fl if a.get(k) != b.get(k)][:3]:
        print(f"  {k}: {a.get(k)} vs {b.get(k)}")
elif cmd == "get":  # FILE PATH...: one value per dotted path, "-" when absent
    j = load(args[0])
    vals = []
    for path in args[1:]:
        v = j
        for part in path.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        vals.append("-" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
    print(" ".join(vals))
elif cmd == "order":  # EVENTS_JSON: "ms from the bulk's end to MASTER" ("-" if either is missing), "demoted"
    import datetime
    def t(e):
        return datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
    ev = load(args[0])["events"]
    done = next((t(e) for e in ev if "bulk update done" in e["message"]), None)
    master = next((t(e) for e in ev if "-> MASTER" in e["message"]), None)
    pending = any("bulk sync pending" in e["message"] for e in ev)
    print("-" if done is None or master is None else round((master - done) * 1000), "yes" if pending else "no")
elif cmd == "failures":  # REPORT: the first few connections that died, and why
    r = load(args[0])
    dead = [(k, d) for k in ("tcp", "udp") for d in r[k] if not d["alive"]]
    for k, d in dead[:3]:
        moved = f", seen as {' then '.join(d['seen_as'])}" if len(d.get("seen_as") or []) > 1 else ""
        print(f"  {k} {d['local']}: error {d['error']}, sent {d['sent']}, echoed {d['echoed']}, "
              f"gap {d['max_gap_ms']} ms at {d['max_gap_at_ms']} ms{moved}")
EOF
q() { python3 "$WORK/q.py" "$@"; }

# Polls NODE's CARP lines every 50 ms until every VIP is in STATE; fails
# after TIMEOUT_MS.
poll_state() {
  local n=$1 want=$2 timeout_ms=$3 t0 states
  t0=$(now_ms)
  while :; do
    states=$(ctl "$n" carp 2>/dev/null | awk '$2 == "carp:" { print $3 }' | sort -u)
    [[ $states == "$want" ]] && return 0
    (($(now_ms) - t0 > timeout_ms)) && return 1
    sleep 0.05
  done
}
carp_of() { ctl "$1" carp 2>/dev/null | awk '$2 == "carp:" { print $3 }' | sort -u | tr '\n' ' '; }

# hafwctl --json sync of NODE into FILE; fails (with hafwctl's complaint in
# FILE.err) when the node does not answer the command.
sync_status() { ctl "$1" --json sync >"$2" 2>"$2.err"; }

# Waits until NODE's bulk sync is done and it hears its peer. Leaves the last
# reply in $WORK/sync-NODE.json and a reason in WHY when it gives up.
wait_sync_done() {
  local n=$1 timeout_ms=$2 t0 f=$WORK/sync-$1.json v
  t0=$(now_ms)
  while :; do
    if sync_status "$n" "$f"; then
      v=$(q get "$f" bulk.state peer_heard)
      [[ $v == "done true" ]] && return 0
      WHY="bulk ${v% *}, peer_heard ${v#* }"
    else
      WHY="hafwctl sync: $(grep -m1 . "$f.err")"
      # A daemon without the command will not grow it by waiting.
      grep -qiE "unknown (verb|command)" "$f.err" && return 1
    fi
    (($(now_ms) - t0 > timeout_ms)) && return 1
    sleep 0.2
  done
}

# Starts a conntest echo server in NS; waits until it listens.
serve() {
  local ns=$1 tag=$2 i
  shift 2
  ip netns exec "$P-$ns" "$CONNTEST" serve "$@" --ready "$WORK/$tag.ready" 2>"$WORK/$tag.err" &
  BG_PIDS+=($!)
  for ((i = 0; i < 50; i++)); do
    [[ -e $WORK/$tag.ready ]] && return 0
    sleep 0.1
  done
  return 1
}

# Starts a conntest run in NS named TAG (report $WORK/TAG.json, ready file
# $WORK/TAG.ready, stop file $WORK/TAG.stop); its pid goes to RUN_PID.
run_traffic() {
  local ns=$1 tag=$2
  shift 2
  rm -f "$WORK/$tag".*
  ip netns exec "$P-$ns" "$CONNTEST" run "$@" --duration 150 --report "$WORK/$tag.json" \
    --ready "$WORK/$tag.ready" --stop "$WORK/$tag.stop" 2>"$WORK/$tag.err" &
  RUN_PID=$!
  BG_PIDS+=("$RUN_PID")
}
wait_file() {  # FILE TIMEOUT_MS
  local t0
  t0=$(now_ms)
  until [[ -e $1 ]]; do
    (($(now_ms) - t0 > $2)) && return 1
    sleep 0.1
  done
}

# The test's states on NODE as a key file (see q.py keys); READY files name
# the test's connections.
node_keys() {
  local n=$1 out=$2
  shift 2
  ctl "$n" --json states 10000 >"$out.states" 2>"$out.err" || { echo '{}' >"$out"; return 1; }
  q keys "$out.states" "$out" "$@"
}

# The first line of q compare: "total in_a in_b same same_id".
counts() { local out; out=$(q compare "$@"); printf '%s\n' "${out%%$'\n'*}"; }

# Polls until NODE B's test states equal the ones in key file A (its key
# file is B_OUT), up to TIMEOUT_MS. Leaves "total in_a in_b same" in CMP.
wait_same_states() {
  local a=$1 n=$2 b_out=$3 timeout_ms=$4 t0
  shift 4
  t0=$(now_ms)
  while :; do
    node_keys "$n" "$b_out" "$@"
    CMP=$(q compare "$a" "$b_out" "$@")
    read -r c_total c_in_a c_in_b c_same c_ids <<<"${CMP%%$'\n'*}"
    ((c_same == c_total)) && return 0
    (($(now_ms) - t0 > timeout_ms)) && return 1
    sleep 0.2
  done
}

# "alive total" etc. of a conntest report.
report_get() { q get "$@"; }

# Checks one conntest report: every TCP connection and UDP flow alive, the
# largest gap within the sanity bound. WHAT names the traffic.
check_report() {
  local what=$1 rep=$2 v ta tt ua ut gap tg ug um
  if [[ ! -s $rep ]]; then
    fail "$what: no report ($(tail -n 1 "${rep%.json*}.err" 2>/dev/null))"
    return
  fi
  v=$(report_get "$rep" tcp_alive tcp_total udp_alive udp_total max_gap_ms tcp_max_gap_ms udp_max_gap_ms udp_moved)
  read -r ta tt ua ut gap tg ug um <<<"$v"
  echo "$what: tcp $ta/$tt alive, udp $ua/$ut alive ($um moved to another translation), max_gap_ms=$gap (tcp $tg, udp $ug)"
  check "$what: 0 of $tt TCP connections lost ($ta alive)" eval "((tt > 0 && ta == tt))"
  if ((ut > 0)); then check "$what: every UDP flow alive ($ua of $ut)" eval "((ua == ut))"; fi
  ((ta == tt && ua == ut)) || q failures "$rep"
  check "$what: largest gap between echoes ${gap} ms within the ${GAP_BOUND_MS} ms sanity bound" \
    eval "((gap < GAP_BOUND_MS))"
  GAPS+="$what: ${gap} ms"$'\n'
}

# SIGUSR1 to conntest runs: each writes its report so far to REPORT.N.
checkpoint() {  # N PID TAG [PID TAG...]
  local n=$1 i
  shift
  for ((i = 1; i < $#; i += 2)); do kill -USR1 "${!i}" 2>/dev/null; done
  for ((i = 2; i <= $#; i += 2)); do wait_file "$WORK/${!i}.json.$n" 3000; done
}

# Stops runs and waits for their final reports (a drain takes up to 10 s).
finish_runs() {  # PID TAG [PID TAG...]
  local i
  for ((i = 2; i <= $#; i += 2)); do touch "$WORK/${!i}.stop"; done
  for ((i = 1; i < $#; i += 2)); do wait "${!i}" 2>/dev/null; done
}

# The failback's order: no MASTER seen while the bulk was open (EARLY
# empty), the bulk seen done (T_BULK), the node demoted while it was pending
# and MASTER no earlier than the bulk's end by its events (DELTA ms >= 0).
after_bulk() {  # EARLY T_BULK DEMOTED DELTA
  [[ -z $1 && -n $2 && $3 == yes && $4 =~ ^[0-9]+$ ]]
}

states_created() { ctl "$1" --json states summary 2>/dev/null | q get /dev/stdin created; }

save_logs() {
  mkdir -p "$WORK/$1"
  cp "$RUN"/*.log "$RUN"/*.json "$WORK/$1"/ 2>/dev/null
}

# ---------------------------------------------------------------- the scenario

# One scenario: the lab with the given CARP timers, the whole test, down.
scenario() {
  local name=$1 advbase=$2 skews=$3 with_loss=$4
  local s2=${skews##*,} T="[$name]" ms t0 took n v
  local limit_ms=$((3 * advbase * 1000 + s2 * 1000 / 256 + 1000))
  local failback_ms=$((3 * advbase * 1000 + advbase * 1000 + s2 * 1000 / 256 + 1500 + BULK_ALLOW_MS))
  export HAFW_LAB_ADVBASE=$advbase HAFW_LAB_SKEWS=$skews
  echo "=== scenario $name: advbase $advbase, advskews $skews; failover limit $limit_ms ms"
  GAPS=

  # The pair.
  if lab up >"$WORK/$name-up.log" 2>&1; then
    pass "$T lab up"
  else
    fail "$T lab up"
    cat "$WORK/$name-up.log"
    return 1
  fi
  if ms=$(lab wait n1 MASTER 10 2>&1); then pass "$T n1 MASTER ($ms ms)"; else fail "$T n1 MASTER: $ms"; fi
  if ms=$(lab wait n2 BACKUP 5 2>&1); then pass "$T n2 BACKUP"; else fail "$T n2 BACKUP: $ms"; fi

  # Both nodes: the bulk is done and each hears the other.
  for n in n1 n2; do
    if wait_sync_done "$n" 10000; then
      v=$(q get "$WORK/sync-$n.json" link bulk.last_duration_ms sent.frames received.frames)
      pass "$T $n: hafwctl sync: bulk done, peer heard (link, bulk ms, frames sent, received: $v)"
    else
      fail "$T $n: hafwctl sync: bulk done and peer heard ($WHY)"
    fi
  done

  # Echo servers, then the traffic.
  serve srv "$name-srv" --tcp "$ECHO_TCP" --udp "$ECHO_UDP" || fail "$T echo server on the server"
  serve cli "$name-cli" --tcp "$TARGET_PORT" --udp "$TARGET_PORT" || fail "$T echo server on the client"
  local nat=$name-nat pf=$name-pf nat_pid pf_pid
  run_traffic cli "$nat" --tcp "$SERVER:$ECHO_TCP" --conns "$NAT_CONNS" --udp "$SERVER:$ECHO_UDP" \
    --flows "$NAT_FLOWS" --interval "$INTERVAL_MS"
  nat_pid=$RUN_PID
  run_traffic srv "$pf" --tcp "$WAN_VIP:$FORWARD_PORT" --conns "$PF_CONNS" --udp "$WAN_VIP:$FORWARD_PORT" \
    --flows "$PF_FLOWS" --interval "$INTERVAL_MS"
  pf_pid=$RUN_PID
  local readies=("$WORK/$nat.ready" "$WORK/$pf.ready")
  for tag in "$nat" "$pf"; do
    if wait_file "$WORK/$tag.ready" 20000; then
      v=$(q get "$WORK/$tag.ready" tcp_open tcp_total first_echo ready_ms)
      read -r a b c d <<<"$v"
      check "$T ${tag#*-}: $a of $b TCP connections open, $c connections and flows echoing (ready in $d ms)" \
        eval "((a == b && c == b + $(q get "$WORK/$tag.ready" udp_total)))"
    else
      fail "$T ${tag#*-}: connections open ($(tail -n 1 "$WORK/$tag.err"))"
    fi
  done

  # Before the crash: the backup holds every state of the test, with the
  # master's translation.
  node_keys n1 "$WORK/$name-n1.keys" "${readies[@]}"
  read -r c_total c_in_a _ <<<"$(counts "$WORK/$name-n1.keys" "$WORK/$name-n1.keys" "${readies[@]}")"
  check "$T n1 holds a state for each of the $c_total connections and flows ($c_in_a)" eval "((c_in_a == c_total))"
  t0=$(now_ms)
  if wait_same_states "$WORK/$name-n1.keys" n2 "$WORK/$name-n2.keys" 5000 "${readies[@]}"; then
    pass "$T n2 holds the same $c_same states as n1, same translation, $c_ids with the same id and creator ($(($(now_ms) - t0)) ms to catch up)"
  else
    fail "$T n2 holds the same states as n1: of $c_total, n1 has $c_in_a, n2 $c_in_b, equal $c_same"
    sed -n '2,$p' <<<"$CMP"
  fi
  cp "$WORK/$name-n1.keys" "$WORK/$name-before.keys"
  local created_before
  created_before=$(states_created n2)

  # The crash.
  kill -KILL "$(<"$RUN/n1.pid")"
  t0=$(now_ms)
  if poll_state n2 MASTER 10000; then
    took=$(($(now_ms) - t0))
    check "$T n2 MASTER ${took} ms after SIGKILL of n1 (limit ${limit_ms} ms)" eval "((took <= limit_ms))"
  else
    fail "$T n2 MASTER after SIGKILL of n1 (not within 10 s: $(carp_of n2))"
  fi
  sleep 5  # traffic goes on through n2
  checkpoint 1 "$nat_pid" "$nat" "$pf_pid" "$pf"
  check_report "$T failover, through outbound NAT" "$WORK/$nat.json.1"
  check_report "$T failover, through the port forward" "$WORK/$pf.json.1"

  # n2 carries them on the synced states: the same translations, and it
  # created no state of its own for them.
  node_keys n2 "$WORK/$name-n2-after.keys" "${readies[@]}"
  read -r c_total c_in_a c_in_b c_same c_ids <<<"$(counts "$WORK/$name-before.keys" "$WORK/$name-n2-after.keys" "${readies[@]}")"
  check "$T after the failover n2 lists $c_same of $c_total connections and flows with n1's translation ($c_ids with n1's state id and creator)" \
    eval "((c_same == c_total))"
  local created_after
  created_after=$(states_created n2)
  check "$T n2 created $((created_after - created_before)) states since the crash (want 0: it carries every flow on a synced state)" \
    eval "((created_after == created_before))"

  # The failback: n1 takes n2's table before it takes MASTER back.
  local live
  read -r _ live _ <<<"$(counts "$WORK/$name-n2-after.keys" "$WORK/$name-n2-after.keys" "${readies[@]}")"
  if lab start n1 >"$WORK/$name-start.log" 2>&1; then
    pass "$T n1 restarts"
  else
    fail "$T n1 restarts"
    cat "$WORK/$name-start.log"
  fi
  local t_bulk='' t_master='' early='' f=$WORK/sync-n1.json st
  t0=$(now_ms)
  while (($(now_ms) - t0 < 10000 + BULK_ALLOW_MS)); do
    # CARP first, then sync: MASTER with the bulk still open is a violation
    # for sure; the other order could miss one.
    st=$(carp_of n1)
    if sync_status n1 "$f" && [[ $(q get "$f" bulk.state) == "done" ]]; then
      [[ -n $t_bulk ]] || t_bulk=$(($(now_ms) - t0))
    elif [[ $st == "MASTER " ]]; then
      early=1
    fi
    if [[ $st == "MASTER " ]]; then t_master=$(($(now_ms) - t0)); break; fi
    sleep 0.05
  done
  v=$(q get "$f" bulk.state bulk.states_received bulk.last_duration_ms 2>/dev/null)
  read -r b_state b_recv b_ms <<<"${v:-- - -}"
  echo "$T failback: bulk ${b_state:-?} after ${t_bulk:-?} ms (its own figure: ${b_ms} ms, ${b_recv} states), MASTER after ${t_master:-?} ms"
  BULKS+="$name: ${b_ms} ms for ${b_recv} states"$'\n'
  if [[ $b_state == "done" ]]; then
    check "$T n1's bulk sync done with $b_recv states received (>= the $live test states n2 holds)" \
      eval "((b_recv >= live))"
  else
    fail "$T n1's bulk sync done ($(grep -m1 . "$f.err" 2>/dev/null || echo "bulk $b_state"))"
  fi
  if [[ -n $t_master ]]; then
    check "$T n1 MASTER again ${t_master} ms after restart (limit ${failback_ms} ms)" eval "((t_master <= failback_ms))"
    # The order to the millisecond from n1's own events; the polls above
    # only catch a MASTER that came long before the bulk's end.
    local order delta demoted
    ctl n1 --json events >"$WORK/$name-n1-events.json" 2>/dev/null
    order=$(q order "$WORK/$name-n1-events.json" 2>/dev/null)
    read -r delta demoted <<<"${order:-- no}"
    check "$T n1 took MASTER only after its bulk was done (events: demoted while pending: $demoted, MASTER ${delta} ms after the bulk's end)" \
      after_bulk "$early" "$t_bulk" "$demoted" "$delta"
  else
    fail "$T n1 MASTER again after restart (not within $((10000 + BULK_ALLOW_MS)) ms: $(carp_of n1))"
  fi
  check "$T n2 back to BACKUP" poll_state n2 BACKUP 3000
  sleep 5  # traffic goes on through n1
  finish_runs "$nat_pid" "$nat" "$pf_pid" "$pf"
  check_report "$T failback, through outbound NAT (whole run)" "$WORK/$nat.json"
  check_report "$T failback, through the port forward (whole run)" "$WORK/$pf.json"

  ((with_loss)) && loss_step "$T" "$name" "$limit_ms"

  save_logs "$name"
  lab down >/dev/null 2>&1 || fail "$T lab down"
  unset HAFW_LAB_ADVBASE HAFW_LAB_SKEWS
}

# Drops LOSS_PERCENT% of what n1 sends on the sync link, at random: netem
# when the kernel has it (loading sch_netem if need be). A kernel without it
# (some VMs' kernels have no modules at all) gets the same loss out of parts
# it usually has: an htb root whose filter, a classic BPF program reading
# the kernel's random number, sends that share of the frames to a class
# with a blackhole qdisc (which, like netem, drops and tells the sender it
# sent). HAFW_SYNC_LOSS=netem refuses the stand-in. Says how in LOSS_HOW,
# or why not.
sync_loss() {
  local out out2 k
  if ! command -v tc >/dev/null; then
    LOSS_HOW="tc is not installed (iproute2)"
    return 1
  fi
  if out=$(inns n1 tc qdisc add dev sync root netem loss "$LOSS_PERCENT%" 2>&1); then
    LOSS_HOW="netem"
    return 0
  fi
  modprobe sch_netem >/dev/null 2>&1
  if out2=$(inns n1 tc qdisc add dev sync root netem loss "$LOSS_PERCENT%" 2>&1); then
    LOSS_HOW="netem"
    return 0
  fi
  LOSS_HOW="netem is not available on this kernel (tc: ${out2:-$out}; modprobe sch_netem: $(modprobe sch_netem 2>&1 | head -n 1))"
  [[ ${HAFW_SYNC_LOSS:-} == netem ]] && return 1
  # ld rand; if A >= K (LOSS_PERCENT% of 2^32) pass: 0; else the drop class: -1.
  k=$((LOSS_PERCENT * 4294967296 / 100))
  if inns n1 tc qdisc add dev sync root handle 1: htb default 10 r2q 100000 &&
     inns n1 tc class add dev sync parent 1: classid 1:10 htb rate 10gbit &&
     inns n1 tc class add dev sync parent 1: classid 1:20 htb rate 10gbit &&
     inns n1 tc qdisc add dev sync parent 1:20 handle 20: blackhole &&
     inns n1 tc filter add dev sync parent 1: bpf bytecode "4,32 0 0 4294963256,53 1 0 $k,6 0 0 4294967295,6 0 0 0" classid 1:20
  then
    echo "NOTE: $LOSS_HOW; the loss comes from htb, a random classic BPF filter and a blackhole qdisc instead"
    LOSS_HOW="htb + random BPF filter + blackhole (no netem)"
    return 0
  fi
  inns n1 tc qdisc del dev sync root >/dev/null 2>&1
  LOSS_HOW+="; nor htb, cls_bpf and blackhole"
  return 1
}

# LOSS_PERCENT% loss on what n1 sends on the sync link, LOSS_CONNS new
# connections, a crash: at least 99.9% survive.
loss_step() {
  local T=$1 name=$2 limit_ms=$3 tag=$2-loss lossy=0 pid v took a c d b g
  if sync_loss; then
    lossy=1
    pass "$T $LOSS_PERCENT% loss on what n1 sends on the sync link ($LOSS_HOW)"
  else
    fail "$T $LOSS_PERCENT% loss on the sync link: $LOSS_HOW; the connections below run without loss"
  fi
  local what="$LOSS_CONNS new connections"
  ((lossy)) || what+=" (no loss injected)"

  serve srv "$tag-srv" --tcp "$ECHO_TCP_LOSS" || fail "$T echo server on the server (port $ECHO_TCP_LOSS)"
  run_traffic cli "$tag" --tcp "$SERVER:$ECHO_TCP_LOSS" --conns "$LOSS_CONNS" --flows 0 --interval 1000
  pid=$RUN_PID
  if wait_file "$WORK/$tag.ready" 30000; then
    v=$(q get "$WORK/$tag.ready" tcp_open first_echo ready_ms)
    read -r a c d <<<"$v"
    check "$T $what: $a open, $c echoing (in $d ms)" eval "((a == LOSS_CONNS && c == LOSS_CONNS))"
  else
    fail "$T $what: open ($(tail -n 1 "$WORK/$tag.err"))"
    finish_runs "$pid" "$tag"
    return
  fi
  # Give the stream its second; report what n2 holds, the survival counts.
  node_keys n1 "$WORK/$tag-n1.keys" "$WORK/$tag.ready"
  wait_same_states "$WORK/$tag-n1.keys" n2 "$WORK/$tag-n2.keys" 3000 "$WORK/$tag.ready"
  echo "$T before the crash n2 holds $c_same of the $c_total with n1's translation (n1: $c_in_a)"
  if sync_status n2 "$WORK/$tag-sync-n2.json"; then
    echo "$T n2's sync records (received frames, inserts, updates; inserted, unknown, requests sent): $(q get \
      "$WORK/$tag-sync-n2.json" received.frames received.inserts received.updates records.inserted records.unknown sent.requests)"
  fi
  kill -KILL "$(<"$RUN/n1.pid")"
  t0=$(now_ms)
  if poll_state n2 MASTER 10000; then
    took=$(($(now_ms) - t0))
    check "$T n2 MASTER ${took} ms after SIGKILL of n1 (limit ${limit_ms} ms)" eval "((took <= limit_ms))"
  else
    fail "$T n2 MASTER after SIGKILL of n1 (not within 10 s)"
  fi
  sleep 5
  finish_runs "$pid" "$tag"
  if [[ -s $WORK/$tag.json ]]; then
    v=$(report_get "$WORK/$tag.json" tcp_alive tcp_total max_gap_ms)
    read -r a b g <<<"$v"
    echo "$T $what: tcp $a/$b alive, max_gap_ms=$g"
    check "$T $what: >= 99.9% survive the crash ($a of $b)" eval "((a * 1000 >= b * 999 && b == LOSS_CONNS))"
    ((a == b)) || q failures "$WORK/$tag.json"
    GAPS+="$T $what: ${g} ms"$'\n'
  else
    fail "$T $what: no report ($(tail -n 1 "$WORK/$tag.err"))"
  fi
  if ((lossy)); then
    # The qdisc must really have dropped frames, or the step proved nothing.
    local drops sent
    read -r sent drops <<<"$(inns n1 tc -s qdisc show dev sync 2>/dev/null |
      sed -n 's/.*Sent [0-9]* bytes \([0-9]*\) pkt (dropped \([0-9]*\).*/\1 \2/p' | head -n 1)"
    check "$T the sync link lost ${drops:-0} of n1's $((${sent:-0} + ${drops:-0})) frames" eval "((${drops:-0} > 0))"
  fi
}

# ---------------------------------------------------------------- main

if [[ $EUID -ne 0 ]]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
missing=
for tool in ip python3 awk; do command -v "$tool" >/dev/null || missing+=" $tool"; done
for bin in hafwd hafwctl; do [[ -x $BUILD/$bin ]] || missing+=" $BUILD/$bin"; done
if [[ -n $missing ]]; then
  fail "prerequisites: missing$missing (tools/install-deps; ninja -C build)"
  exit 1
fi
echo "lab prefix $P, scenarios: $SCENARIOS"

GAPS_ALL='' BULKS=''
first=1
for s in $SCENARIOS; do
  case $s in
    # The loss step runs once, in the first scenario: CI's time budget.
    default) scenario default 1 0,100 "$first" ;;
    fast) scenario fast 0 1,3 "$first" ;;
    *) fail "unknown scenario '$s' (default, fast)"; continue ;;
  esac
  GAPS_ALL+=$GAPS
  first=0
done
echo "--- largest gaps between echoes (informational)"
printf '%s' "$GAPS_ALL"
echo "--- bulk sync of the restarted primary"
printf '%s' "$BULKS"
# Teardown (and its check) runs in the EXIT trap, also after a failure.
