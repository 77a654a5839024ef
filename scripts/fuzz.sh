#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset `fuzz`: clang++-14, ASan + UBSan) and fuzzes
# one target, or all of them, for a given time. See `scripts/fuzz.sh --help`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$ROOT/build/fuzz"
FUZZ_DIR="$ROOT/tests/fuzz"
TARGETS=(sample_codec_fuzz request_path_fuzz)

usage() {
  cat <<EOF
Usage: scripts/fuzz.sh TARGET SECONDS
       scripts/fuzz.sh all SECONDS
       scripts/fuzz.sh --help

Builds the fuzz targets with the CMake preset 'fuzz' (clang++-14, libFuzzer, ASan + UBSan,
ccache when installed) into build/fuzz, then runs libFuzzer on TARGET for SECONDS seconds.
'all' runs every target, in parallel when there are enough CPUs.

Targets:
  sample_codec_fuzz   the POST /metrics body decoder (tests/fuzz/sample_codec_fuzz.cpp)
  request_path_fuzz   raw bytes of a connection -> Beast parser -> router -> handlers ->
                      response, without sockets (tests/fuzz/request_path_fuzz.cpp)

Each run starts from tests/fuzz/corpus/TARGET and tests/fuzz/regressions/TARGET, copied into
build/fuzz/work/TARGET/corpus (kept between runs, so the corpus grows), with the dictionary
tests/fuzz/TARGET.dict. It prints executions per second and coverage (cov: edges, ft:
features) from libFuzzer's final stats. The full log is build/fuzz/work/TARGET/fuzz.log.

On a crash, an invariant violation, a sanitizer report, a timeout or running out of memory,
the input is saved to tests/fuzz/regressions/TARGET/ and the script exits non-zero. Add that
file to the repository: the regression test fuzz.TARGET.corpus (CTest, label 'fuzz', in the
release and asan presets) runs every file there, so the failure stays fixed.

Environment:
  FUZZ_RSS_LIMIT_MB   libFuzzer -rss_limit_mb (default 2048)
  FUZZ_JOBS           targets run at the same time by 'all' (default: CPU count)
  FUZZ_ARGS           extra libFuzzer arguments
EOF
}

if [[ $# -ge 1 && ( "$1" == "--help" || "$1" == "-h" ) ]]; then
  usage
  exit 0
fi
if [[ $# -ne 2 ]]; then
  usage >&2
  exit 2
fi
WHAT="$1"
SECONDS_TO_RUN="$2"
if ! [[ "$SECONDS_TO_RUN" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: SECONDS must be a positive integer (got '$SECONDS_TO_RUN')" >&2
  exit 2
fi
if [[ "$WHAT" == "all" ]]; then
  SELECTED=("${TARGETS[@]}")
else
  SELECTED=()
  for t in "${TARGETS[@]}"; do [[ "$t" == "$WHAT" ]] && SELECTED=("$t"); done
  if [[ ${#SELECTED[@]} -eq 0 ]]; then
    echo "fuzz.sh: unknown target '$WHAT'; targets: ${TARGETS[*]} (or 'all')" >&2
    exit 2
  fi
fi

if ! command -v clang++-14 >/dev/null; then
  echo "fuzz.sh: clang++-14 is missing (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

echo "== building ${SELECTED[*]} (preset fuzz, $BUILD_DIR)"
cd "$ROOT"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${SELECTED[@]}"

RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-2048}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

max_len_of() {
  case "$1" in
    sample_codec_fuzz) echo 4096 ;;
    *) echo 16384 ;;
  esac
}

# Runs one target; writes its summary to work/<target>/summary and returns libFuzzer's status.
run_target() {
  local target="$1"
  local work="$BUILD_DIR/work/$target"
  local corpus="$work/corpus"
  local artifacts="$work/artifacts"
  local log="$work/fuzz.log"
  mkdir -p "$corpus" "$artifacts"
  rm -f "$artifacts"/* "$work/summary"
  cp -n "$FUZZ_DIR/corpus/$target/"* "$corpus/" 2>/dev/null || true
  find "$FUZZ_DIR/regressions/$target" -type f ! -name '.*' -exec cp -n {} "$corpus/" \; 2>/dev/null || true

  local status=0
  # shellcheck disable=SC2086
  "$BUILD_DIR/tests/fuzz/$target" "$corpus" \
    -dict="$FUZZ_DIR/$target.dict" \
    -max_total_time="$SECONDS_TO_RUN" \
    -rss_limit_mb="$RSS_LIMIT_MB" \
    -max_len="$(max_len_of "$target")" \
    -timeout=10 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?

  local final execs_per_sec executed elapsed
  final="$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -n 1 || true)"
  execs_per_sec="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  executed="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  elapsed="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)"
  {
    echo "$target: ${executed:-?} runs in ${elapsed:-?}s (of ${SECONDS_TO_RUN}s), ${execs_per_sec:-?} execs/s"
    echo "  cov: $(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$final")" \
         " ft: $(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$final")" \
         " corpus: $(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$final")" \
         " peak rss: $(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1) MB"
    echo "  final stats: ${final:-none}"
  } >"$work/summary"

  local found=0
  for crash in "$artifacts"/*; do
    [[ -f "$crash" ]] || continue
    found=1
    mkdir -p "$FUZZ_DIR/regressions/$target"
    cp "$crash" "$FUZZ_DIR/regressions/$target/"
    {
      echo "  FAILURE: $(basename "$crash") saved to tests/fuzz/regressions/$target/$(basename "$crash")"
      echo "  Add it to the repository (it is now run by the regression test fuzz.$target.corpus),"
      echo "  reproduce with: $BUILD_DIR/tests/fuzz/$target tests/fuzz/regressions/$target/$(basename "$crash")"
    } >>"$work/summary"
  done
  if [[ $status -ne 0 && $found -eq 0 ]]; then
    echo "  FAILURE: libFuzzer exited with status $status without an artifact; see $log" >>"$work/summary"
  fi
  if [[ $found -ne 0 && $status -eq 0 ]]; then
    status=1
  fi
  return "$status"
}

JOBS="${FUZZ_JOBS:-$(nproc)}"
declare -A PIDS=()
overall=0
echo "== fuzzing ${SELECTED[*]} for ${SECONDS_TO_RUN}s each"
for target in "${SELECTED[@]}"; do
  if [[ ${#SELECTED[@]} -gt 1 && ${#SELECTED[@]} -le $JOBS ]]; then
    run_target "$target" &
    PIDS[$target]=$!
  else
    run_target "$target" || overall=1
    cat "$BUILD_DIR/work/$target/summary"
  fi
done
for target in "${!PIDS[@]}"; do
  wait "${PIDS[$target]}" || overall=1
done
for target in "${!PIDS[@]}"; do
  cat "$BUILD_DIR/work/$target/summary"
done
if [[ $overall -ne 0 ]]; then
  echo "== fuzzing found a failure (see above)" >&2
  exit 1
fi
echo "== no failure found"
