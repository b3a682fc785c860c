"""Metrics: the names a plan may use, and (deeper) the metric registry."""
