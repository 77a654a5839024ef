"""Locust load profile for metrics-analyzer, driven by scripts/load-test.sh.

One user class, AnalyzerUser (FastHttpUser, one keep-alive connection per user), with
a constant-throughput mix of

    POST /metrics   single JSON sample       weight 8   expects 202
    GET  /analyze                            weight 1   expects 200 + JSON object
    GET  /health                             weight 1   expects 200

Each user runs LOAD_TEST_USER_RPS tasks per second (one request per task), so the
total target rate is users x LOAD_TEST_USER_RPS; load-test.sh picks the user count
from the requested RPS. Run it through load-test.sh, or by hand:

    LOAD_TEST_USER_RPS=20 /usr/bin/locust -f scripts/locustfile.py --headless \
        -H http://127.0.0.1:8080 -u 50 -r 50 -t 30s

Environment:
    LOAD_TEST_USER_RPS   tasks per second per user (default 20)
    LOAD_TEST_SEED       seed of the sample generator (default 1); each user derives
                         its own stream from it, so payloads are reproducible
    LOAD_TEST_SUMMARY    if set, a JSON file written when locust quits: the final
                         request and failure counts per endpoint and the errors

Locust 2.12 flushes its --csv files only every 10 s and not at exit, so the tail of
_stats_history.csv was lost; this file makes it flush every row (once a second).
Its _stats.csv is still rewritten only once a second, so the exact final counts come
from LOAD_TEST_SUMMARY.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from typing import Any

import locust.stats
from locust import events, task
from locust.env import Environment
from locust.contrib.fasthttp import FastHttpUser
from locust.user.wait_time import constant_throughput

USER_RPS = float(os.environ.get("LOAD_TEST_USER_RPS", "20"))
SEED = int(os.environ.get("LOAD_TEST_SEED", "1"))
if not USER_RPS > 0:
    raise ValueError(f"LOAD_TEST_USER_RPS must be > 0, got {USER_RPS}")

SUMMARY_PATH = os.environ.get("LOAD_TEST_SUMMARY", "")
# Flush the CSV files after every row (the default is every 10 s, and never at exit).
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 0

_user_ids = itertools.count()
_JSON_HEADERS = {"Content-Type": "application/json"}


class AnalyzerUser(FastHttpUser):
    """A client that mostly ingests samples and sometimes reads the analytics."""

    wait_time = constant_throughput(USER_RPS)
    # Generous, but bounded: a stuck service shows up as failures, not as a hang.
    connection_timeout = 5.0
    network_timeout = 5.0

    def on_start(self) -> None:
        self.rng = random.Random(SEED * 1_000_003 + next(_user_ids))

    def _sample(self) -> bytes:
        # Normal-looking load (cpu ~ 40 +- 2 %, rps ~ 1000 +- 30): the service's work per
        # request is the same whether a value is flagged or not.
        sample = {
            "cpu": round(self.rng.uniform(38.0, 42.0), 3),
            "rps": round(self.rng.uniform(970.0, 1030.0), 1),
        }
        return json.dumps(sample).encode()

    @task(8)
    def post_metrics(self) -> None:
        with self.client.post("/metrics", data=self._sample(), headers=_JSON_HEADERS,
                              name="POST /metrics", catch_response=True) as resp:
            if resp.status_code != 202:
                resp.failure(f"status {resp.status_code}, expected 202")

    @task(1)
    def analyze(self) -> None:
        with self.client.get("/analyze", name="GET /analyze", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}, expected 200")
            elif not (resp.text or "").startswith("{"):
                resp.failure("body is not a JSON object")

    @task(1)
    def health(self) -> None:
        with self.client.get("/health", name="GET /health", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}, expected 200")


@events.quitting.add_listener
def write_summary(environment: Environment, **_kwargs: Any) -> None:
    """Writes the final counts (users have stopped by now) for load-test.sh."""
    if not SUMMARY_PATH:
        return
    stats = environment.stats
    entries = [{"method": e.method, "name": e.name, "requests": e.num_requests,
                "failures": e.num_failures} for e in stats.entries.values()]
    summary = {
        "requests": stats.total.num_requests,
        "failures": stats.total.num_failures,
        "entries": sorted(entries, key=lambda e: (e["name"], e["method"])),
        "errors": [{"method": e.method, "name": e.name, "error": str(e.error),
                    "occurrences": e.occurrences} for e in stats.errors.values()],
        # Requests completed per whole wall-clock second: a cross-check of the rate.
        "requests_per_second": {str(k): v for k, v in
                                sorted(stats.total.num_reqs_per_sec.items())},
    }
    with open(SUMMARY_PATH, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
