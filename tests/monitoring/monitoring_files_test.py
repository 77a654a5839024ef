#!/usr/bin/python3
"""Unit tests of monitoring_files: metric-name extraction from PromQL and the Grafana
variable substitution the live Prometheus test relies on."""
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import monitoring_files as mf  # noqa: E402


class MetricNames(unittest.TestCase):
    def test_functions_keywords_labels_and_ranges_are_not_metrics(self):
        expr = ('histogram_quantile(0.99, sum by (route, le) '
                '(rate(http_request_duration_seconds_bucket{job="x",route=~"a|b"}[5m]))) > 0.025')
        self.assertEqual(mf.metric_names(expr), {"http_request_duration_seconds_bucket"})

    def test_vector_matching_and_recording_rule_names(self):
        expr = ('analyzer:anomalies:increase5m / on (job) group_left '
                'analyzer:samples_accepted:increase5m and bool up')
        self.assertEqual(mf.metric_names(expr), {"analyzer:anomalies:increase5m",
                                                 "analyzer:samples_accepted:increase5m", "up"})

    def test_numbers_strings_and_offsets(self):
        expr = 'a_total offset 5m + 1e3 * b{l="c_total"} or vector(0) unless absent(d)'
        self.assertEqual(mf.metric_names(expr), {"a_total", "b", "d"})

    def test_grafana_variables_are_replaced(self):
        self.assertEqual(mf.substitute('rate(x{job="$job",instance=~"$instance"}[$__rate_interval])'),
                         'rate(x{job="metrics-analyzer",instance=~".*"}[10s])')
        with self.assertRaises(AssertionError):
            mf.substitute("x[$__unknown]")

    def test_every_alert_and_panel_is_found(self):
        self.assertIn("MetricsAnalyzerAnomalyBurst", mf.alert_names())
        panels = {q.panel for q in mf.dashboard_queries() if q.panel}
        self.assertGreaterEqual(len(panels), 15)


if __name__ == "__main__":
    unittest.main(verbosity=2)
