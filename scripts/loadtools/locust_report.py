"""Summary and verdict of a locust run of scripts/load-test.sh.

Reads the --csv files of locust 2.12 (PREFIX_stats.csv, PREFIX_stats_history.csv,
PREFIX_failures.csv) and the JSON summary that scripts/locustfile.py writes at exit,
prints a table and the achieved request rate, and decides:

- failures must be 0 (exact count from the summary; _stats.csv as a fallback);
- runs of >= 25 s: the rate averaged over the last 20 s must be >= 95 % of the target.
  _stats_history.csv has one "Aggregated" row a second; its "Requests/s" column is,
  in locust 2.12 (StatsEntry.current_rps), the mean number of requests completed per
  whole wall-clock second over the 10 seconds [T-12, T-3] of its row's second T. The
  mean of the last full-load row and the row 10 s before it is thus the exact rate
  over the 20 whole seconds [T-22, T-3]: the last 20 complete seconds of the run
  (the final ~2 s are the stop). Differences of "Total Request Count" over row
  timestamps would be simpler, but the timestamps are truncated to whole seconds and
  the rows drift ~1 % late, so those differences can be 5 % off; they are printed as
  a cross-check only;
- shorter (smoke) runs: the rate over the whole run after its first 2 s, from
  "Total Request Count" over the number of rows (one a second; can read ~1 % high).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

LONG_RUN_SECONDS = 25
WINDOW_SECONDS = 20
MIN_FRACTION = 0.95


@dataclass(frozen=True)
class HistoryRow:
    timestamp: int
    users: int
    current_rps: float
    total_requests: int
    total_failures: int


def read_history(path: str) -> list[HistoryRow]:
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for rec in csv.DictReader(handle):
            if rec.get("Name") != "Aggregated":
                continue
            try:
                rows.append(HistoryRow(int(rec["Timestamp"]), int(rec["User Count"]),
                                       float(rec["Requests/s"]),
                                       int(rec["Total Request Count"]),
                                       int(rec["Total Failure Count"])))
            except (KeyError, ValueError):
                continue   # a row cut short by a hard stop
    return rows


def read_stats(path: str) -> list[dict[str, str]]:
    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def utc(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%H:%M:%S")


@dataclass
class Rate:
    value: float | None
    how: str
    cross_check: str = ""


def rate_last_window(full: list[HistoryRow], summary: dict[str, Any] | None) -> Rate:
    """Exact rate over the last 20 whole seconds, from the Requests/s column."""
    end = full[-1]
    by_ts = {r.timestamp: r for r in full}
    start = by_ts.get(end.timestamp - WINDOW_SECONDS // 2)
    if start is None:
        # A row skipped its second (the writer drifted over a boundary): take the
        # nearest earlier one; the two 10-s windows then overlap by a second.
        earlier = [r for r in full if r.timestamp < end.timestamp - WINDOW_SECONDS // 2]
        if not earlier:
            return Rate(None, "not enough full-load history rows for a 20 s window")
        start = earlier[-1]
    value = (end.current_rps + start.current_rps) / 2
    first, last = end.timestamp - 22, end.timestamp - 3
    how = (f"mean of per-second request counts over the 20 whole seconds "
           f"{utc(first)}..{utc(last)} UTC (_stats_history.csv Requests/s of the rows at "
           f"{utc(start.timestamp)} and {utc(end.timestamp)})")
    checks = []
    old = [r for r in full if r.timestamp <= end.timestamp - WINDOW_SECONDS]
    if old:
        a = old[-1]
        span = end.timestamp - a.timestamp
        checks.append(f"Total Request Count over whole-second timestamps: "
                      f"{(end.total_requests - a.total_requests) / span:.1f} req/s")
    per_second = (summary or {}).get("requests_per_second") or {}
    if per_second:
        counts = [int(per_second.get(str(t), 0)) for t in range(first, last + 1)]
        checks.append(f"locust's per-second counts: {sum(counts) / len(counts):.1f} req/s")
    return Rate(value, how, "; ".join(checks))


def rate_smoke(full: list[HistoryRow], run_start: int, skip: int = 2) -> Rate:
    """Whole run after its first `skip` seconds, by row count (one row a second).

    run_start is the timestamp of the first history row, written as the run starts
    (before the users are spawned)."""
    first_ts = run_start
    later = [r for r in full if r.timestamp >= first_ts + skip]
    if len(later) < 2:
        return Rate(None, "run too short: fewer than 2 history rows after its first 2 s")
    a, b = later[0], later[-1]
    intervals = len(later) - 1
    value = (b.total_requests - a.total_requests) / intervals
    return Rate(value, f"smoke run (< {LONG_RUN_SECONDS} s): average over the whole run after "
                       f"its first {skip} s, {utc(a.timestamp)}..{utc(b.timestamp)} UTC: "
                       f"Total Request Count over {intervals} one-second history rows")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="locust_report")
    parser.add_argument("--prefix", required=True, help="locust --csv prefix")
    parser.add_argument("--summary", required=True, help="JSON written by locustfile.py")
    parser.add_argument("--html", required=True)
    parser.add_argument("--target-rps", type=float, required=True)
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--url", required=True)
    args = parser.parse_args(argv)

    problems: list[str] = []
    summary: dict[str, Any] | None = None
    if os.path.isfile(args.summary):
        with open(args.summary, encoding="utf-8") as handle:
            summary = json.load(handle)
    else:
        problems.append(f"no summary {args.summary}: locust did not quit normally")

    history_path = args.prefix + "_stats_history.csv"
    history = read_history(history_path) if os.path.isfile(history_path) else []
    full = [r for r in history if r.users == args.users]
    stats = read_stats(args.prefix + "_stats.csv")

    print()
    print(f"load-test summary: {args.url}, target {args.target_rps:g} req/s for "
          f"{args.seconds} s, {args.users} users (POST /metrics 8 : GET /analyze 1 : "
          f"GET /health 1)")
    print(f"  {'endpoint':<16} {'requests':>9} {'failures':>9} {'req/s':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7}")
    final = {(e["method"] or "", e["name"]): e for e in (summary or {}).get("entries", [])}
    for rec in stats:
        name = rec.get("Name", "")
        key = (rec.get("Type", ""), name)
        requests = final.get(key, {}).get("requests", rec.get("Request Count"))
        failures = final.get(key, {}).get("failures", rec.get("Failure Count"))
        if name == "Aggregated" and summary:
            requests, failures = summary["requests"], summary["failures"]
        print(f"  {name:<16} {requests:>9} {failures:>9} {float(rec['Requests/s']):>8.1f} "
              f"{rec.get('50%', '?'):>7} {rec.get('99%', '?'):>7}")

    if summary is not None:
        failures = int(summary["failures"])
        total = int(summary["requests"])
    else:
        agg = next((r for r in stats if r.get("Name") == "Aggregated"), {})
        failures = int(agg.get("Failure Count", 0) or 0)
        total = int(agg.get("Request Count", 0) or 0)
    if total == 0:
        problems.append("no request was made")
    if failures:
        problems.append(f"{failures} failed request(s)")
        for err in (summary or {}).get("errors", [])[:5]:
            print(f"  error: {err['method']} {err['name']}: {err['error']} "
                  f"x{err['occurrences']}")

    if not full:
        rate = Rate(None, f"no full-load rows in {history_path}")
    elif args.seconds >= LONG_RUN_SECONDS:
        rate = rate_last_window(full, summary)
    else:
        rate = rate_smoke(full, history[0].timestamp)
    needed = MIN_FRACTION * args.target_rps
    label = ("achieved over the last 20 s" if args.seconds >= LONG_RUN_SECONDS
             else "achieved (smoke run, whole run after the first 2 s)")
    if rate.value is None or not math.isfinite(rate.value):
        problems.append(f"no rate: {rate.how}")
        print(f"  {label}: ? ({rate.how})")
    else:
        print(f"  {label}: {rate.value:.1f} req/s = {100 * rate.value / args.target_rps:.1f} % "
              f"of {args.target_rps:g} (needs >= {needed:g})")
        print(f"    how: {rate.how}")
        if rate.cross_check:
            print(f"    cross-check: {rate.cross_check}")
        if rate.value < needed:
            problems.append(f"rate {rate.value:.1f} req/s < 95 % of {args.target_rps:g}")
    print(f"  requests {total}, failures {failures}")
    print(f"  reports: {args.html}")
    print(f"           {args.prefix}_stats.csv, _stats_history.csv, _failures.csv")
    if problems:
        print("  result: FAIL")
        for problem in problems:
            print(f"    - {problem}")
        return 1
    print("  result: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
