#!/usr/bin/env bash
# Builds the pfsync libFuzzer target (tests/fuzz/pfsync_fuzz.cc) with clang
# and runs it for a bounded time: the meson test `pfsync_fuzz` (suite unit).
#
#   tests/fuzz/run.sh SOURCE_ROOT BUILD_DIR                 fuzz for HAFW_FUZZ_SECONDS (30) seconds
#   tests/fuzz/run.sh SOURCE_ROOT BUILD_DIR FILE...         run the target once on each FILE (a crash file)
#   tests/fuzz/run.sh SOURCE_ROOT BUILD_DIR --update-seeds  rewrite the seeds in tests/fuzz/corpus/pfsync/
#
# The binary, a working copy of the corpus, the log and any crash file go
# to BUILD_DIR/tests/fuzz/pfsync/. Fails on a crash (a broken rule aborts),
# a leak, an input slower than 5 s, more than 1 GB of memory, or seeds that
# no longer match what the target writes. docs/testing.md has the details.
set -uo pipefail
if (($# < 2)); then
  echo "usage: $0 SOURCE_ROOT BUILD_DIR [--update-seeds | FILE...]" >&2
  exit 2
fi
src=$(cd "$1" && pwd) || exit 2
build=$(mkdir -p "$2" && cd "$2" && pwd) || exit 2
shift 2
seconds=${HAFW_FUZZ_SECONDS:-30}
out=$build/tests/fuzz/pfsync
corpus=$src/tests/fuzz/corpus/pfsync
bin=$out/pfsync_fuzz
mkdir -p "$out"

cxx=${HAFW_FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null; then
  echo "pfsync_fuzz: $cxx not found (tools/install-deps installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

# The target and what it links: pfsync and the leaf under it, each file
# compiled with the fuzzer's coverage and the sanitizers.
sources=(tests/fuzz/pfsync_fuzz.cc pfsync/config_sync.cc pfsync/crypto.cc pfsync/frame.cc pfsync/wire.cc dataplane/net/net.cc)
t0=$(date +%s)
# shellcheck disable=SC2046  # pkg-config's flags are words
if ! (cd "$src" && "$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -fno-omit-frame-pointer -Wall -Wextra -Werror -I. $(pkg-config --cflags openssl) "${sources[@]}" \
      $(pkg-config --libs openssl) -o "$bin"); then
  echo "pfsync_fuzz: compiling the target failed" >&2
  exit 1
fi
echo "pfsync_fuzz: compiled in $(($(date +%s) - t0)) s"

if [[ ${1:-} == --update-seeds ]]; then
  mkdir -p "$corpus"
  HAFW_FUZZ_WRITE_SEEDS=$corpus "$bin" || exit 1
  echo "pfsync_fuzz: wrote $(ls "$corpus" | wc -l) seeds to tests/fuzz/corpus/pfsync/"
  exit 0
fi

if (($# > 0)); then  # reproduce: each file once, with the whole report
  exec "$bin" "$@"
fi

# The checked-in seeds must be what the target writes now (crash files
# added there by hand are extra names, and are kept).
rm -rf "$out/seeds" && mkdir -p "$out/seeds"
HAFW_FUZZ_WRITE_SEEDS=$out/seeds "$bin" || exit 1
stale=()
for f in "$out"/seeds/*; do
  cmp -s "$f" "$corpus/${f##*/}" || stale+=("${f##*/}")
done
if ((${#stale[@]})); then
  echo "pfsync_fuzz: seeds differ from what the target writes: ${stale[*]}" >&2
  echo "  regenerate them with: tests/fuzz/run.sh . BUILD_DIR --update-seeds" >&2
  exit 1
fi

# Fuzz a copy, so the checked-in corpus stays as it is.
rm -rf "$out/corpus" && cp -r "$corpus" "$out/corpus"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/slow-unit-*
log=$out/fuzz.log
t0=$(date +%s)
"$bin" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$out/" "$out/corpus" >"$log" 2>&1
rc=$?
took=$(($(date +%s) - t0))

runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log")
rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log")
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
cov=$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/\1 edges, \2 features, \3 corpus inputs/p' <<<"$done_line")
artifacts=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null || true)
if ((rc != 0)) || [[ -z $done_line || -n $artifacts ]]; then
  tail -n 60 "$log"
  echo "pfsync_fuzz: FAILED after $took s (exit $rc); full log: $log" >&2
  for a in $artifacts; do
    echo "  input: $a" >&2
    echo "  reproduce: $bin $a" >&2
  done
  exit 1
fi
echo "pfsync_fuzz: ${runs:-?} executions in $took s (${rate:-?}/s), coverage $cov"
