"""The six stages, in order: plan, inference, metrics, errors, compare, readiness, verdict."""
