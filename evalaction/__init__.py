"""evalaction: decide, with evidence, whether a new model version may ship."""

__version__ = "0.1.0"
