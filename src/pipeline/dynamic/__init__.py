"""Dynamic management (动态管理): the bookkeeping that keeps titles honest after recognition.

* :mod:`.sweep` — the expiry sweep: lapsed titles end with an ``expire`` event by the system.
* :mod:`.worklist` — what is due for re-review (复核), grouped by tier and recognition batch.
* :mod:`.obligations` — annual data filings and major-change reports, and the flags they drive.
* :mod:`.batches` — many transitions at once, all-or-nothing or item by item.
* :mod:`.models` — the ``annual_filings`` table.
"""
