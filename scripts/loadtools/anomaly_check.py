"""End-to-end check of the anomaly detector of a running metrics-analyzer.

Run through scripts/load_anomaly_test.sh. The plan, all from a seeded generator:

1. Warmup: --warmup-samples normal samples (cpu ~ 40 +- 2, rps ~ 1000 +- 30; default
   one full window), so the service's windows hold only our data, whatever it held
   before. Then /analyze is read: its anomaly counters are the "before" values.
2. Test phase: a fixed list of injections (cpu and rps spikes and drops, separately
   and together, mild ones between 2 and 3.5 sigma, saturation/outage extremes, a
   burst of three, and sub-threshold controls), each preceded by --gap normal
   samples (default one full window, so each injection is judged against a baseline
   of normal data only, except inside the burst, whose later points meet a sigma
   inflated by the earlier ones on purpose). Injected values are placed at a target
   z against the reference's current baseline. Normal samples are redrawn until the
   reference says they are clearly normal, so any flag on them is a false positive.
3. Everything is POSTed with ?analysis=true in batches; each returned z-score and
   flag is compared with the exact reference (loadtools.reference) within the
   section 3 tolerance; /analyze is read again and its anomaly counters must have
   grown by exactly the expected numbers, its last_anomaly and window statistics
   must match the reference.

The reference assumes --window and --threshold (defaults 50 and 2.0, the service's
defaults): against a service configured otherwise the check must fail, which the
load tests use as a negative test.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from loadtools.common import (DEFAULT_URL, EXIT_CHECK_FAILED, EXIT_OK, EXIT_SERVICE,
                              EXIT_USAGE, JsonClient, ServiceError, UsageError, eprint,
                              parse_loopback_url)
from loadtools.reference import Judgement, MetricReference

METRICS = ("cpu", "rps")
# Normal load and how values are rounded (decimals) on the wire.
NORMAL = {"cpu": (40.0, 2.0, 3), "rps": (1000.0, 30.0, 2)}
VALID = {"cpu": (0.0, 100.0), "rps": (0.0, math.inf)}
NORMAL_MARGIN = 0.25   # normal samples keep |z| <= threshold - this, per the reference
TAIL_SAMPLES = 10      # normal samples after the last injection


@dataclass(frozen=True)
class Target:
    """An injected value: at z sigmas from the current baseline, or an absolute value."""

    z: float | None = None
    absolute: float | None = None
    repeat_first: bool = False   # reuse the value of the previous point of the group


@dataclass(frozen=True)
class Injection:
    name: str
    points: tuple[dict[str, Target], ...]   # consecutive samples; metric -> target
    control: bool = False                   # sub-threshold: must NOT be flagged


def _one(**targets: Target) -> tuple[dict[str, Target], ...]:
    return (dict(targets),)


INJECTIONS: tuple[Injection, ...] = (
    Injection("cpu spike", _one(cpu=Target(z=6.0))),
    Injection("cpu drop", _one(cpu=Target(z=-6.0))),
    Injection("rps spike", _one(rps=Target(z=8.0))),
    Injection("rps drop", _one(rps=Target(z=-5.0))),
    Injection("cpu+rps spike", _one(cpu=Target(z=4.0), rps=Target(z=12.0))),
    Injection("cpu+rps drop", _one(cpu=Target(z=-3.5), rps=Target(z=-4.0))),
    Injection("cpu up, rps down", _one(cpu=Target(z=3.0), rps=Target(z=-3.0))),
    Injection("mild cpu spike", _one(cpu=Target(z=2.6))),
    Injection("mild rps drop", _one(rps=Target(z=-2.8))),
    Injection("cpu saturation", _one(cpu=Target(absolute=99.5))),
    Injection("rps outage", _one(rps=Target(absolute=0.0))),
    Injection("rps burst x3", (
        {"rps": Target(z=9.0)},
        {"rps": Target(repeat_first=True)},
        {"rps": Target(repeat_first=True)},
    )),
    Injection("control cpu", _one(cpu=Target(z=1.6)), control=True),
    Injection("control rps", _one(rps=Target(z=-1.6)), control=True),
)


@dataclass
class Planned:
    """One sample of the plan with the reference's judgement of each metric."""

    index: int                        # 0-based position in the whole plan
    sample: dict[str, float]
    judged: dict[str, Judgement]
    warmup: bool
    injection: Injection | None = None
    injected: tuple[str, ...] = ()    # metrics carrying an injected value
    target_z: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Options:
    endpoint_base: str
    window: int
    threshold: float
    seed: int
    warmup_samples: int
    gap: int
    batch_size: int
    timeout: float


class Planner:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.refs = {m: MetricReference(opts.window, opts.threshold) for m in METRICS}
        self.plan: list[Planned] = []

    def _round(self, metric: str, value: float) -> float:
        lo, hi = VALID[metric]
        return min(max(round(value, NORMAL[metric][2]), lo), hi)

    def _normal_value(self, metric: str, strict: bool) -> float:
        center, spread, _ = NORMAL[metric]
        value = self._round(metric, center + self.rng.uniform(-spread, spread))
        if not strict:
            return value
        limit = self.opts.threshold - NORMAL_MARGIN
        for _ in range(100):
            judged = self.refs[metric].judge(value)
            if abs(judged.z) <= limit:
                return value
            value = self._round(metric, center + self.rng.uniform(-spread, spread))
        base = self.refs[metric].baseline()
        return self._round(metric, base[0] if base else center)

    def _commit(self, sample: dict[str, float], warmup: bool, **extra: Any) -> Planned:
        judged = {m: self.refs[m].commit(sample[m]) for m in METRICS}
        planned = Planned(len(self.plan), sample, judged, warmup, **extra)
        self.plan.append(planned)
        return planned

    def _normal(self, warmup: bool) -> None:
        # During warmup the reference does not yet know the service's older data, so
        # nothing is redrawn there; the warmup's verdicts are not checked either.
        sample = {m: self._normal_value(m, strict=not warmup) for m in METRICS}
        self._commit(sample, warmup)

    def _inject(self, injection: Injection) -> None:
        first_values: dict[str, float] = {}
        for point in injection.points:
            sample: dict[str, float] = {}
            target_z: dict[str, float | None] = {}
            for metric in METRICS:
                target = point.get(metric)
                if target is None:
                    sample[metric] = self._normal_value(metric, strict=True)
                    continue
                if target.repeat_first:
                    value = first_values[metric]
                    target_z[metric] = None
                elif target.absolute is not None:
                    value = self._round(metric, target.absolute)
                    target_z[metric] = None
                else:
                    assert target.z is not None
                    mean, std = self.refs[metric].baseline() or (0.0, 0.0)
                    value = self._round(metric, mean + target.z * std)
                    target_z[metric] = target.z
                first_values.setdefault(metric, value)
                sample[metric] = value
            self._commit(sample, False, injection=injection,
                         injected=tuple(m for m in METRICS if m in point),
                         target_z=target_z)

    def build(self) -> list[Planned]:
        for _ in range(self.opts.warmup_samples):
            self._normal(warmup=True)
        for injection in INJECTIONS:
            for _ in range(self.opts.gap):
                self._normal(warmup=False)
            self._inject(injection)
        for _ in range(TAIL_SAMPLES):
            self._normal(warmup=False)
        return self.plan

    def check_plan(self) -> list[str]:
        """The plan's own sanity: injections flagged, controls and normal data not."""
        problems = []
        for p in self.plan:
            if p.warmup:
                continue
            for metric in METRICS:
                j = p.judged[metric]
                if metric in p.injected:
                    want = not (p.injection and p.injection.control)
                    if j.anomaly != want or j.borderline:
                        problems.append(
                            f"plan: {p.injection.name if p.injection else '?'} {metric}="
                            f"{j.value} has reference z {j.z:.3f}, flag {j.anomaly}")
                elif j.anomaly or j.borderline:
                    problems.append(f"plan: normal sample #{p.index} {metric} flagged")
        return problems


def _batches(items: list[Planned], size: int) -> Iterable[list[Planned]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _post(client: JsonClient, planned: list[Planned], ts0: int,
          batch_size: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for batch in _batches(planned, batch_size):
        body = [{"timestamp": ts0 + p.index, **p.sample} for p in batch]
        reply = client.json("POST", "/metrics?analysis=true", body, expect=202)
        got = reply.get("results")
        if not isinstance(got, list) or len(got) != len(batch):
            raise ServiceError(f"POST /metrics?analysis=true: expected {len(batch)} results, "
                               f"got {reply!r:.200}")
        results.extend(got)
    return results


def _counters(analyze: dict[str, Any]) -> dict[str, int]:
    return {m: int(analyze["metrics"][m]["anomalies_total"]) for m in METRICS}


def _fmt_z(z: float | None) -> str:
    return "-" if z is None else f"{z:+.3f}"


def run(opts: Options) -> int:
    endpoint = parse_loopback_url(opts.endpoint_base)
    planner = Planner(opts)
    plan = planner.build()
    plan_problems = planner.check_plan()
    if plan_problems:
        # Only possible with unusual --threshold/--window/--seed: say so, do not test.
        for problem in plan_problems[:10]:
            eprint(problem)
        eprint("load_anomaly_test: the generated plan does not separate anomalies from "
               "normal data for these options; try another --seed")
        return EXIT_USAGE
    warmup = [p for p in plan if p.warmup]
    test = [p for p in plan if not p.warmup]
    ts0 = int(time.time()) - len(plan)

    problems: list[str] = []
    with JsonClient(endpoint, opts.timeout) as client:
        before0 = client.json("GET", "/analyze")
        print(f"service {endpoint.base}: window_size={before0.get('window_size')} "
              f"threshold={before0.get('threshold')} warmup={before0.get('warmup')} "
              f"samples_total={before0.get('samples_total')}")
        print(f"reference: window={opts.window} threshold={opts.threshold} "
              f"seed={opts.seed}; plan: {len(warmup)} warmup + {len(test)} test samples "
              f"({len(INJECTIONS)} injections, gap {opts.gap}), batches of "
              f"{opts.batch_size}")
        if (before0.get("window_size") != opts.window
                or before0.get("threshold") != opts.threshold):
            print("note: the service reports another window_size/threshold than the "
                  "reference assumes; expect the checks below to fail")
        warm_results = _post(client, warmup, ts0, opts.batch_size)
        before = client.json("GET", "/analyze")
        test_results = _post(client, test, ts0, opts.batch_size)
        after = client.json("GET", "/analyze")

    # Our samples must be committed back to back: another client's samples between
    # them would change the windows (section 3: other requests may interleave).
    seqs = [int(r["seq"]) for r in warm_results + test_results]
    gaps = [i for i in range(1, len(seqs)) if seqs[i] != seqs[i - 1] + 1]
    if gaps:
        eprint(f"load_anomaly_test: other traffic interleaved with ours (seq {seqs[gaps[0] - 1]}"
               f" then {seqs[gaps[0]]}); run it against a service nobody else is feeding")
        return EXIT_SERVICE
    # And nothing else between the two /analyze reads, or the counter deltas would
    # include someone else's flags.
    if int(after["samples_total"]) - int(before["samples_total"]) != len(test):
        eprint("load_anomaly_test: samples_total moved by other traffic during the run; "
               "run it against a service nobody else is feeding")
        return EXIT_SERVICE

    # Per-sample comparison of the test phase.
    mismatches = 0
    false_positives = 0
    misses = 0
    max_dz = 0.0
    expected_flags = {m: 0 for m in METRICS}
    rows: list[tuple[str, ...]] = []
    last_expected: dict[str, tuple[Planned, dict[str, Any]]] = {}
    for p, got in zip(test, test_results):
        for metric in METRICS:
            j = p.judged[metric]
            g = got[metric]
            z_got = float(g["z_score"])
            flag_got = bool(g["anomaly"])
            if float(g["value"]) != p.sample[metric]:
                problems.append(f"seq {got['seq']} {metric}: echoed value {g['value']} != "
                                f"{p.sample[metric]}")
            z_ok = j.z_agrees(z_got)
            flag_ok = j.flag_agrees(flag_got)
            if j.computed:
                max_dz = max(max_dz, abs(z_got - j.z))
            if j.anomaly:
                expected_flags[metric] += 1
                last_expected[metric] = (p, got)
            if not z_ok:
                mismatches += 1
                problems.append(f"z mismatch: seq {got['seq']} {metric}={p.sample[metric]}: "
                                f"expected z {j.z:+.9g} (tolerance {j.tolerance:.2g}), "
                                f"got {z_got:+.9g}")
            if not flag_ok:
                if j.anomaly:
                    misses += 1
                    what = "MISS"
                else:
                    false_positives += 1
                    what = "FALSE POSITIVE"
                name = p.injection.name if metric in p.injected and p.injection else "normal"
                problems.append(f"{what}: seq {got['seq']} {metric}={p.sample[metric]} "
                                f"({name}): expected z {j.z:+.3f} flag {j.anomaly}, got z "
                                f"{z_got:+.3f} flag {flag_got}")
            if metric in p.injected and p.injection is not None:
                verdict = "ok" if (z_ok and flag_ok) else ("MISS" if j.anomaly and not flag_got
                                                           else "FAIL")
                rows.append((str(got["seq"]), p.injection.name, metric,
                             f"{p.sample[metric]:g}", _fmt_z(p.target_z.get(metric)),
                             f"{j.z:+.3f}", f"{z_got:+.3f}",
                             "yes" if j.anomaly else "no", "yes" if flag_got else "no",
                             verdict))

    # /analyze: counters moved by exactly our flags; last anomaly and window stats.
    c_before, c_after = _counters(before), _counters(after)
    for metric in METRICS:
        delta = c_after[metric] - c_before[metric]
        if delta != expected_flags[metric]:
            problems.append(f"/analyze {metric}.anomalies_total grew by {delta}, expected "
                            f"{expected_flags[metric]}")
        state = after["metrics"][metric]
        if metric in last_expected:
            p, got = last_expected[metric]
            last = state.get("last_anomaly") or {}
            if (last.get("value") != p.sample[metric]
                    or not p.judged[metric].z_agrees(float(last.get("z_score", math.nan)))
                    or last.get("timestamp") != ts0 + p.index):
                problems.append(f"/analyze {metric}.last_anomaly is {last}, expected value "
                                f"{p.sample[metric]} at timestamp {ts0 + p.index}")
        ref = planner.refs[metric]
        mean, std = ref.baseline() or (math.nan, math.nan)
        scale = max(abs(v) for v in ref.values)
        tol = 1e-9 * scale + 8 * math.ulp(scale)
        if (state.get("data_points") != len(ref.values)
                or abs(float(state.get("rolling_average") or math.nan) - mean) > tol
                or abs(float(state.get("std_dev") or math.nan) - std) > tol):
            problems.append(f"/analyze {metric} window: data_points={state.get('data_points')} "
                            f"rolling_average={state.get('rolling_average')} std_dev="
                            f"{state.get('std_dev')}; reference {len(ref.values)} {mean} {std}")

    _print_table(rows)
    normal_checked = sum(1 for p in test for m in METRICS if m not in p.injected)
    print()
    print(f"checked {len(test)} test samples x 2 metrics against the reference: "
          f"z mismatches {mismatches}, misses {misses}, false positives {false_positives}, "
          f"max |dz| {max_dz:.3g} ({normal_checked} normal values)")
    for metric in METRICS:
        print(f"/analyze {metric}.anomalies_total: {c_before[metric]} -> {c_after[metric]} "
              f"(+{c_after[metric] - c_before[metric]}, expected +{expected_flags[metric]})")
    if problems:
        print()
        print(f"FAIL: {len(problems)} problem(s)")
        # Misses and false positives first: they say the most.
        order = ("MISS", "FALSE POSITIVE", "/analyze")
        problems.sort(key=lambda text: next(
            (i for i, prefix in enumerate(order) if text.startswith(prefix)), len(order)))
        for problem in problems[:40]:
            print(f"  - {problem}")
        if len(problems) > 40:
            print(f"  ... and {len(problems) - 40} more")
        return EXIT_CHECK_FAILED
    print("PASS: the detector flagged exactly the injected anomalies")
    return EXIT_OK


def _print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("seq", "injection", "metric", "value", "target z", "expected z", "got z",
              "expected flag", "got flag", "result")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    right = {0, 3, 4, 5, 6}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print()
    print(line(header))
    print(line(tuple("-" * w for w in widths)))
    for row in rows:
        print(line(row))


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="load_anomaly_test.sh",
        description="Injects known anomalies into a running metrics-analyzer and checks "
                    "that exactly those are flagged, with the z-scores of an exact "
                    "reference detector.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL,
                        help=f"base URL, loopback only (default {DEFAULT_URL})")
    parser.add_argument("--window", type=int, default=50,
                        help="window size W the reference assumes (default 50)")
    parser.add_argument("--threshold", type=float, default=2.0,
                        help="anomaly threshold the reference assumes (default 2.0)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--warmup-samples", type=int, default=None,
                        help="normal samples sent first (default: --window)")
    parser.add_argument("--gap", type=int, default=None,
                        help="normal samples before each injection (default: --window)")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="samples per POST, 1..1000 (default 500)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="per-request timeout in seconds (default 10)")
    args = parser.parse_args(argv)
    if not 2 <= args.window <= 4096:
        raise UsageError("--window must be in 2..4096")
    if not (args.threshold > 0 and math.isfinite(args.threshold)):
        raise UsageError("--threshold must be a finite number > 0")
    warmup = args.window if args.warmup_samples is None else args.warmup_samples
    gap = args.window if args.gap is None else args.gap
    if warmup < args.window:
        raise UsageError("--warmup-samples must be >= --window (the window must hold only "
                         "our data before the test phase)")
    if not 0 <= gap <= 100_000:
        raise UsageError("--gap must be in 0..100000")
    if not 1 <= args.batch_size <= 1000:
        raise UsageError("--batch-size must be in 1..1000")
    if not 0 < args.timeout <= 300:
        raise UsageError("--timeout must be in (0, 300]")
    return Options(args.url, args.window, args.threshold, args.seed, warmup, gap,
                   args.batch_size, args.timeout)


def main(argv: list[str]) -> int:
    try:
        opts = parse_args(argv)
        parse_loopback_url(opts.endpoint_base)
        return run(opts)
    except UsageError as err:
        eprint(f"load_anomaly_test: {err}")
        return EXIT_USAGE
    except ServiceError as err:
        eprint(f"load_anomaly_test: {err}")
        return EXIT_SERVICE
    except (KeyError, TypeError, ValueError) as err:
        eprint(f"load_anomaly_test: unexpected response shape: {err!r}")
        return EXIT_SERVICE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
