"""The yearly cycle officials are judged by (SPEC §5): targets per region and year measured from the events
(:mod:`~pipeline.targets.service`, :mod:`~pipeline.targets.counting`), recommendation quotas earned by
completion (:mod:`~pipeline.targets.quotas`), application rounds 申报 → 推荐 → 认定
(:mod:`~pipeline.targets.rounds`), and the reports: the 靶向培育 list and the 通报 workbook
(:mod:`~pipeline.targets.reports`, :mod:`~pipeline.targets.workbook`). Each record has its own chain.

培育目标、推荐名额、申报批次与通报。
"""
