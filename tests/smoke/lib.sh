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
