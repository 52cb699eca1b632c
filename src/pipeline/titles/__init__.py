"""Titles beside the tiers (单项冠军, 重点"小巨人", 高新技术企业, 科技型中小企业, 瞪羚, 独角兽).

A firm holds any number of them, each a dated record granted and ended by a ``side_title`` event in its
chain (:mod:`pipeline.titles.service`); the kinds, their labels, validity and who may grant or end them are
rulebook data. Replay rebuilds them from what the events recorded (:mod:`pipeline.titles.replay`).

与梯度并列的称号：单项冠军、重点“小巨人”、高新技术企业、科技型中小企业、瞪羚、独角兽。
"""
