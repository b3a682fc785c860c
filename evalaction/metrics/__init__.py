"""Metrics: the names a plan may use (catalog), the metric registry, and threshold tuning."""
