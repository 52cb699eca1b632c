"""专精特新 Pipeline: the domain and its persistence (no web imports here)."""

__version__ = "0.1.0"
