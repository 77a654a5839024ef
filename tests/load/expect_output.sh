#!/usr/bin/env bash
# Runs a command, shows its output, and checks its exit status and output lines.
#
# Usage: tests/load/expect_output.sh [--rc N] [--match ERE]... -- COMMAND [ARG...]
#   --rc N       the exit status COMMAND must have (default 0)
#   --match ERE  a line of COMMAND's stdout+stderr must match this extended regex
#                (repeatable; every one must match)
#
# Used by the load tests where the exit status alone proves too little: the negative
# anomaly test (must fail with 1 *because* the detector disagreed, not because the
# service was down) and the NAB replay (must list anomalies and the count line).
# Exit status: 0 when all expectations hold, 1 otherwise, 2 on a usage error.
set -euo pipefail

want_rc=0
patterns=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    --rc) want_rc=${2:?--rc needs a value}; shift 2 ;;
    --match) patterns+=("${2:?--match needs a value}"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "expect_output: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "${1:-}" != "--" ] || [ $# -lt 2 ]; then
  echo "expect_output: missing '-- COMMAND'" >&2
  exit 2
fi
shift

out=$(mktemp "${TMPDIR:-/tmp}/expect_output.XXXXXX")
trap 'rm -f "$out"' EXIT
rc=0
"$@" >"$out" 2>&1 || rc=$?
cat "$out"

ok=1
if [ "$rc" -ne "$want_rc" ]; then
  echo "expect_output: exit status $rc, expected $want_rc" >&2
  ok=0
fi
for pattern in "${patterns[@]}"; do
  if ! grep -Eq -- "$pattern" "$out"; then
    echo "expect_output: no output line matches /$pattern/" >&2
    ok=0
  fi
done
[ "$ok" -eq 1 ] || exit 1
echo "expect_output: exit status $rc and ${#patterns[@]} pattern(s) as expected" >&2
