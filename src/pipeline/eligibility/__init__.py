"""Eligibility: the criteria engine (``evaluate``) and the firms' indicator data.

``pipeline.eligibility.evaluate`` is a public entry point that scripts use; it stays importable here.
"""

from pipeline.eligibility.engine import evaluate

__all__ = ["evaluate"]
