"""The ``pipeline`` command: :mod:`pipeline.cli.main` parses and dispatches, one module per feature."""

from pipeline.cli.main import main

__all__ = ["main"]
