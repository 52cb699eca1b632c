"""Credit for banks (专精特新贷): the ceiling and white-list of a firm on a date, loans banks record, reports."""
