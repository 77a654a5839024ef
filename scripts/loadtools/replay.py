"""Replays a timestamp,value CSV series into a running metrics-analyzer.

Run through scripts/replay.sh. Each row becomes one sample: the value goes to the
chosen metric (cpu or rps), the other metric gets a constant (a window of equal
values has std 0, so it never flags once its window holds only the constant), and
the row's timestamp (NAB's "YYYY-MM-DD HH:MM:SS", read as UTC; Unix seconds and RFC
3339 are accepted too) becomes the sample's timestamp. Rows are POSTed in order, in
batches, with ?analysis=true; the flagged rows are printed with their ISO 8601
timestamps and z-scores, then a count line. When the series has labeled anomaly
windows (NAB's combined_windows.json next to the file or one folder up), every
flagged row says whether it falls inside one (NAB windows are inclusive at both
ends), and a per-window summary follows.

With --verify the service's z-scores and flags are also compared with the exact
reference detector (loadtools.reference) from the row after the first window on
(before that the service's window may still hold older data).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from loadtools.common import (DEFAULT_URL, EXIT_CHECK_FAILED, EXIT_OK, EXIT_SERVICE,
                              EXIT_USAGE, JsonClient, ServiceError, UsageError, eprint,
                              parse_loopback_url)
from loadtools.reference import MetricReference

OTHER_CONSTANT = {"cpu": 50.0, "rps": 1000.0}
# File-name words that mean a count-like series (rps); everything else is cpu.
RPS_WORDS = ("request", "rps", "network", "disk", "bytes", "count")
MAX_TIMESTAMP = 253402300799.0   # 9999-12-31T23:59:59Z, the service's upper bound


@dataclass(frozen=True)
class Row:
    line: int          # 1-based line in the CSV (the header is line 1)
    raw_time: str
    timestamp: float   # Unix seconds
    value: float


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    start_text: str
    end_text: str


def parse_time(text: str) -> float:
    """Unix seconds from NAB's naive 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC), RFC 3339 or a number."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def iso(ts: float) -> str:
    moment = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    text = moment.isoformat(timespec="milliseconds" if ts % 1 else "seconds")
    return text.replace("+00:00", "Z")


def read_series(path: str, limit: int | None) -> list[Row]:
    rows: list[Row] = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if "timestamp" not in header or "value" not in header:
            raise UsageError(f"{path}: header must name 'timestamp' and 'value' columns, "
                             f"got {header}")
        ti, vi = header.index("timestamp"), header.index("value")
        for number, record in enumerate(reader, start=2):
            if not record or all(not cell.strip() for cell in record):
                continue
            try:
                ts = parse_time(record[ti])
                value = float(record[vi])
            except (ValueError, IndexError) as err:
                raise UsageError(f"{path}:{number}: cannot parse {record}: {err}") from err
            if not math.isfinite(value):
                raise UsageError(f"{path}:{number}: value is not finite")
            if not 0 <= ts <= MAX_TIMESTAMP:
                raise UsageError(f"{path}:{number}: timestamp out of range")
            rows.append(Row(number, record[ti].strip(), ts, value))
            if limit is not None and len(rows) >= limit:
                break
    if not rows:
        raise UsageError(f"{path}: no data rows")
    return rows


def guess_metric(path: str) -> str:
    name = os.path.basename(path).lower()
    if "cpu" in name:
        return "cpu"
    return "rps" if any(word in name for word in RPS_WORDS) else "cpu"


def find_labels(path: str) -> str | None:
    here = os.path.dirname(os.path.abspath(path))
    for folder in (here, os.path.dirname(here)):
        candidate = os.path.join(folder, "combined_windows.json")
        if os.path.isfile(candidate):
            return candidate
    return None


def _entry(table: dict[str, Any], csv_path: str) -> tuple[str | None, Any]:
    """The entry of csv_path in a NAB label table, keyed by the file's path relative to
    the data root ('realAWSCloudwatch/x.csv'): matched by its tail, else by file name."""
    parts = os.path.abspath(csv_path).split(os.sep)
    for key, entry in table.items():
        key_parts = key.split("/")
        if parts[-len(key_parts):] == key_parts:
            return key, entry
    base = os.path.basename(csv_path)
    for key, entry in table.items():
        if key.split("/")[-1] == base:
            return key, entry
    return None, None


def load_windows(labels_path: str, csv_path: str) -> tuple[str | None, list[Window]]:
    """The labeled anomaly windows of csv_path in a NAB combined_windows.json."""
    with open(labels_path, encoding="utf-8") as handle:
        key, windows = _entry(json.load(handle), csv_path)
    if key is None:
        return None, []
    return key, [Window(parse_time(a), parse_time(b), a, b) for a, b in windows]


def load_label_points(labels_path: str, csv_path: str) -> set[float]:
    """The labelers' anomaly points (combined_labels.json beside the windows file)."""
    points_path = os.path.join(os.path.dirname(labels_path), "combined_labels.json")
    if not os.path.isfile(points_path):
        return set()
    with open(points_path, encoding="utf-8") as handle:
        _, points = _entry(json.load(handle), csv_path)
    return {parse_time(p) for p in points or ()}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="replay.sh",
        description="Replays a timestamp,value CSV (e.g. a NAB series) into a running "
                    "metrics-analyzer and prints the anomalies it flags.")
    parser.add_argument("csv", help="CSV file with 'timestamp,value' columns")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL,
                        help=f"base URL, loopback only (default {DEFAULT_URL})")
    parser.add_argument("--metric", choices=("cpu", "rps"), default=None,
                        help="metric the values feed (default: from the file name: "
                             "'cpu' -> cpu; request/network/disk/bytes/count -> rps; "
                             "else cpu)")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="samples per POST, 1..1000 (the service's default "
                             "MAX_BATCH; default 500)")
    parser.add_argument("--labels", default=None,
                        help="NAB combined_windows.json (default: found next to the "
                             "CSV or one folder up)")
    parser.add_argument("--no-labels", action="store_true", help="ignore label windows")
    parser.add_argument("--other-value", type=float, default=None,
                        help="constant for the other metric (default cpu 50, rps 1000)")
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N rows")
    parser.add_argument("--verify", action="store_true",
                        help="also compare every z-score and flag with the exact reference "
                             "(from the row after the first --window rows); exit 1 on a "
                             "disagreement")
    parser.add_argument("--window", type=int, default=50,
                        help="window size for --verify (default 50)")
    parser.add_argument("--threshold", type=float, default=2.0,
                        help="threshold for --verify (default 2.0)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="per-request timeout in seconds (default 10)")
    args = parser.parse_args(argv)
    if not 1 <= args.batch_size <= 1000:
        raise UsageError("--batch-size must be in 1..1000")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be >= 1")
    if not 2 <= args.window <= 4096:
        raise UsageError("--window must be in 2..4096")
    if not (args.threshold > 0 and math.isfinite(args.threshold)):
        raise UsageError("--threshold must be a finite number > 0")
    if not 0 < args.timeout <= 300:
        raise UsageError("--timeout must be in (0, 300]")
    return args


def run(args: argparse.Namespace) -> int:
    endpoint = parse_loopback_url(args.url)
    if not os.path.isfile(args.csv):
        raise UsageError(f"no such file: {args.csv}")
    metric = args.metric or guess_metric(args.csv)
    other = "rps" if metric == "cpu" else "cpu"
    other_value = OTHER_CONSTANT[other] if args.other_value is None else args.other_value
    rows = read_series(args.csv, args.limit)
    lo, hi = (0.0, 100.0) if metric == "cpu" else (0.0, math.inf)
    bad = next((r for r in rows if not lo <= r.value <= hi), None)
    if bad is not None:
        hint = " (use --metric rps for count-like series)" if metric == "cpu" else ""
        raise UsageError(f"{args.csv}:{bad.line}: value {bad.value} outside {metric}'s range "
                         f"{lo:g}..{hi:g}{hint}")
    if not (other_value >= 0 and (other != "cpu" or other_value <= 100)):
        raise UsageError(f"--other-value {other_value} outside {other}'s range")

    windows: list[Window] = []
    label_points: set[float] = set()
    labels_key = None
    labels_path = None if args.no_labels else (args.labels or find_labels(args.csv))
    if labels_path:
        labels_key, windows = load_windows(labels_path, args.csv)
        if labels_key is not None:
            label_points = load_label_points(labels_path, args.csv)

    batches = math.ceil(len(rows) / args.batch_size)
    print(f"replay: {args.csv}: {len(rows)} rows -> {metric} ({other} held at {other_value:g}), "
          f"{batches} batch(es) of up to {args.batch_size} to {endpoint.base}")
    if labels_key is not None:
        print(f"labels: {labels_path} [{labels_key}]: {len(windows)} window(s), "
              f"{len(label_points)} labeled point(s)")
    elif labels_path:
        print(f"labels: {labels_path} has no entry for this file")

    results: list[dict[str, Any]] = []
    started = time.monotonic()
    with JsonClient(endpoint, args.timeout) as client:
        for start in range(0, len(rows), args.batch_size):
            chunk = rows[start:start + args.batch_size]
            body = [{"timestamp": r.timestamp, metric: r.value, other: other_value}
                    for r in chunk]
            reply = client.json("POST", "/metrics?analysis=true", body, expect=202)
            got = reply.get("results")
            if not isinstance(got, list) or len(got) != len(chunk):
                raise ServiceError(f"expected {len(chunk)} results, got {reply!r:.200}")
            results.extend(got)
        analyze = client.json("GET", "/analyze")
    elapsed = time.monotonic() - started

    def inside(ts: float) -> list[int]:
        return [i for i, w in enumerate(windows) if w.start <= ts <= w.end]

    flagged = [(r, g) for r, g in zip(rows, results) if g[metric]["anomaly"]]
    other_flags = sum(1 for g in results if g[other]["anomaly"])
    hits = [0] * len(windows)
    print()
    if flagged:
        header = f"{'row':>6}  {'seq':>8}  {'timestamp':<20}  {'value':>14}  {'z':>9}"
        print(header + ("  labeled window" if windows else ""))
        for row, got in flagged:
            where = inside(row.timestamp)
            for i in where:
                hits[i] += 1
            line = (f"{row.line:>6}  {got['seq']:>8}  {iso(row.timestamp):<20}  "
                    f"{row.value:>14.6g}  {got[metric]['z_score']:>+9.3f}")
            if windows:
                line += "  " + (", ".join(f"#{i + 1}" for i in where) if where else "-")
                if row.timestamp in label_points:
                    line += " (labeled point)"
            print(line)
        print()

    inside_count = sum(1 for r, _ in flagged if inside(r.timestamp))
    print(f"anomalies found: {len(flagged)} of {len(rows)} samples flagged ({metric}), "
          f"replayed in {elapsed:.2f}s")
    if windows:
        print(f"inside labeled windows: {inside_count}; outside: {len(flagged) - inside_count}; "
              f"windows with a detection: {sum(1 for h in hits if h)} of {len(windows)}")
        for i, w in enumerate(windows):
            print(f"  window #{i + 1}: {iso(w.start)} .. {iso(w.end)}: {hits[i]} flagged")
        if label_points:
            caught = sum(1 for r, _ in flagged if r.timestamp in label_points)
            print(f"labeled points flagged: {caught} of {len(label_points)}")
    if other_flags:
        print(f"note: {other} (held constant) was flagged {other_flags} time(s): the service's "
              f"{other} window still held earlier data")
    state = analyze["metrics"][metric]
    print(f"/analyze {metric}: anomalies_total={state['anomalies_total']} "
          f"rolling_average={state['rolling_average']} std_dev={state['std_dev']}")

    if args.verify:
        return verify(args, metric, other, rows, results)
    return EXIT_OK


def verify(args: argparse.Namespace, metric: str, other: str, rows: list[Row],
           results: list[dict[str, Any]]) -> int:
    """Compares the service with the reference from row index --window on."""
    seqs = [int(g["seq"]) for g in results]
    if any(b != a + 1 for a, b in zip(seqs, seqs[1:])):
        eprint("replay: --verify: other traffic interleaved with the replay")
        return EXIT_SERVICE
    ref = MetricReference(args.window, args.threshold)
    compared = 0
    problems: list[str] = []
    for i, (row, got) in enumerate(zip(rows, results)):
        judged = ref.commit(row.value)
        if i < args.window:
            continue
        compared += 1
        z_got = float(got[metric]["z_score"])
        flag_got = bool(got[metric]["anomaly"])
        if not judged.z_agrees(z_got) or not judged.flag_agrees(flag_got):
            problems.append(f"row {row.line} ({iso(row.timestamp)}) value {row.value}: "
                            f"reference z {judged.z:+.9g} flag {judged.anomaly} (tolerance "
                            f"{judged.tolerance:.2g}), service z {z_got:+.9g} flag {flag_got}")
        if i >= 2 * args.window and got[other]["anomaly"]:
            problems.append(f"row {row.line}: constant {other} flagged")
    print(f"verify: {compared} samples compared with the reference (window {args.window}, "
          f"threshold {args.threshold:g}): {len(problems)} disagreement(s)")
    for problem in problems[:20]:
        print(f"  - {problem}")
    return EXIT_CHECK_FAILED if problems else EXIT_OK


def main(argv: list[str]) -> int:
    try:
        return run(parse_args(argv))
    except UsageError as err:
        eprint(f"replay: {err}")
        return EXIT_USAGE
    except ServiceError as err:
        eprint(f"replay: {err}")
        return EXIT_SERVICE
    except OSError as err:
        eprint(f"replay: {err}")
        return EXIT_USAGE
    except (KeyError, TypeError, ValueError) as err:
        eprint(f"replay: unexpected response shape: {err!r}")
        return EXIT_SERVICE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
