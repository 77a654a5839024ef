"""Helpers of the load tools in scripts/ (standard library only, Debian's /usr/bin/python3).

- ``common``: loopback-only URL parsing and a small keep-alive JSON client.
- ``reference``: an independent, exact-arithmetic implementation of the detector
  contract (docs/architecture.md section 3) and its z-score tolerance.
- ``anomaly_check``: scripts/load_anomaly_test.sh.
- ``replay``: scripts/replay.sh.
- ``locust_report``: the summary and pass/fail verdict of scripts/load-test.sh.
"""
