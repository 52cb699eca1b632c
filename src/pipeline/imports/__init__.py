"""Official lists in and out: import recognition lists and history from .xlsx/.csv, export firm lists.

``reading`` turns a file into normalised rows, ``engine`` plans and applies them through the domain (one
report row per file row, all or nothing), ``exports`` writes the lists officials send upward.
"""

from pipeline.imports.engine import ACTIONS, ImportOptions, run_import
from pipeline.imports.reading import ImportFile, parse_mapping
from pipeline.imports.report import ImportSummary, RowReport

__all__ = ["ACTIONS", "ImportFile", "ImportOptions", "ImportSummary", "RowReport", "parse_mapping", "run_import"]
