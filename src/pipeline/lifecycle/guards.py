"""Guards: pure functions on preloaded data. Each returns the refusals it finds, naming its rule.

They run before the machine fires, and the API runs the same functions to explain ``allowed_triggers``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeVar

from pipeline.lifecycle.machine import PREREQUISITE, RECOGNITION_TIER
from pipeline.rulebooks import TITLE_TIERS, Rulebook


class TitleLike(Protocol):
    tier: str
    recognized_on: dt.date
    valid_until: dt.date
    ended_on: dt.date | None

    def valid_on(self, day: dt.date) -> bool: ...


@dataclass(slots=True)
class PlainTitle:
    """A title outside the ORM (replay, bulk imports): the columns of :class:`pipeline.models.Recognition`."""

    tier: str
    recognized_on: dt.date
    valid_until: dt.date
    document_no: str | None = None
    batch: str | None = None
    ended_on: dt.date | None = None
    end_reason: str | None = None
    granted_by_seq: int = 0
    ended_by_seq: int | None = None

    def valid_on(self, day: dt.date) -> bool:
        return self.recognized_on <= day <= self.valid_until and (self.ended_on is None or day < self.ended_on)


@dataclass(frozen=True)
class Refusal:
    guard: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"guard": self.guard, "message": self.message}


class Proposal(NamedTuple):
    """Everything a guard may look at: the firm as loaded, and the requested move. (Immutable; a named tuple
    because every decision builds one: a frozen dataclass took 4.3 µs to make, this 1.)"""

    trigger: str
    state: str
    titles: Sequence[TitleLike]
    barred_until: dt.date | None
    last_effective_date: dt.date | None
    effective_date: dt.date
    today: dt.date
    rulebook: Rulebook
    reason_code: str | None = None
    reason: str | None = None
    evidence: Mapping[str, Any] = MappingProxyType({})


NEEDS_REASON_CODE = ("demote", "expire", "revoke", "remove")
NEEDS_REASON_TEXT = ("demote", "revoke")


AnyTitle = TypeVar("AnyTitle", bound=TitleLike)


def current_title(titles: Sequence[AnyTitle], tier: str) -> AnyTitle | None:
    """The open (not ended) title of a tier with the latest validity end."""
    open_titles = [t for t in titles if t.tier == tier and t.ended_on is None]
    return max(open_titles, key=lambda t: t.valid_until, default=None)


def landing_state(state: str, titles: Sequence[TitleLike], day: dt.date) -> str:
    """Where ``demote``/``expire`` land: the highest title below ``state`` still valid on ``day``."""
    below = TITLE_TIERS[: TITLE_TIERS.index(state)] if state in TITLE_TIERS else ()
    for tier in reversed(below):
        if any(t.tier == tier and t.valid_on(day) for t in titles):
            return tier
    return "reserve"


def restored_state(titles: Sequence[TitleLike], day: dt.date) -> str:
    """Where ``enroll`` lands a removed firm: its highest title still valid on ``day`` (a relocated firm keeps
    its titles), else ``reserve``."""
    for tier in reversed(TITLE_TIERS):
        if any(t.tier == tier and t.valid_on(day) for t in titles):
            return tier
    return "reserve"


def _date_not_in_future(p: Proposal) -> list[Refusal]:
    if p.effective_date > p.today:
        return [Refusal("effective_date_not_in_future",
                        f"生效日期{p.effective_date}晚于今天{p.today} — effective_date {p.effective_date} is in "
                        f"the future (today is {p.today})")]
    return []


def _date_not_before_latest(p: Proposal) -> list[Refusal]:
    if p.last_effective_date is not None and p.effective_date < p.last_effective_date:
        return [Refusal("effective_date_not_before_latest_event",
                        f"生效日期{p.effective_date}早于该企业最近一次事件的日期{p.last_effective_date} — "
                        f"effective_date {p.effective_date} is before the firm's latest event "
                        f"({p.last_effective_date}); record older decisions before newer ones")]
    return []


def _bar_passed(p: Proposal) -> list[Refusal]:
    # The bar follows the firm, not its state: removing a revoked firm must not lift it early.
    if p.trigger == "enroll" and p.barred_until and p.effective_date < p.barred_until:
        return [Refusal("barred_until",
                        f"撤销后{p.barred_until}前不得重新纳入 — the firm is barred until {p.barred_until}; "
                        f"enroll becomes possible on {p.barred_until}")]
    return []


def _reason_code_in_catalogue(p: Proposal) -> list[Refusal]:
    if p.trigger not in NEEDS_REASON_CODE:
        return []
    catalogue = p.rulebook.reasons_for(p.trigger)
    if not p.reason_code:
        return [Refusal("reason_code_required",
                        f"“{p.trigger}”须填写原因代码 — {p.trigger} needs a reason_code, one of: "
                        f"{', '.join(catalogue)}")]
    if p.reason_code not in catalogue:
        return [Refusal("reason_code_in_catalogue",
                        f"原因代码'{p.reason_code}'不在{p.rulebook.id}的目录中 — reason_code {p.reason_code!r} is "
                        f"not in {p.rulebook.id}'s catalogue for {p.trigger}: {', '.join(catalogue)}")]
    return []


def _reason_text(p: Proposal) -> list[Refusal]:
    needs = p.trigger in NEEDS_REASON_TEXT or (p.trigger == "enroll" and p.state in ("removed", "revoked"))
    if needs and not (p.reason and p.reason.strip()):
        return [Refusal("reason_required",
                        f"“{p.trigger}”须说明理由 — {p.trigger} needs a reason text")]
    return []


def _decision_evidence(p: Proposal) -> list[Refusal]:
    document_no = str(p.evidence.get("document_no") or "").strip()
    batch = str(p.evidence.get("batch") or "").strip()
    if p.trigger in RECOGNITION_TIER and not (document_no or batch):
        return [Refusal("decision_evidence_required",
                        f"“{p.trigger}”须提供文号或批次 — {p.trigger} needs evidence.document_no or evidence.batch")]
    if p.trigger == "renew" and not document_no:  # a re-review is decided by a document, not by a batch
        return [Refusal("decision_evidence_required",
                        "复核通过须提供文号（仅有批次不够） — renew needs evidence.document_no (the re-review "
                        "decision); a batch alone is not enough")]
    if p.trigger == "remove" and p.state in TITLE_TIERS and not document_no:
        return [Refusal("decision_evidence_required",
                        f"移出持有称号（{p.rulebook.label(p.state)}）的企业须提供文号 — removing a firm that holds a "
                        f"title ({p.state}) needs evidence.document_no")]
    if p.trigger == "revoke" and not document_no:
        return [Refusal("decision_evidence_required",
                        "撤销须提供文号 — revoke needs evidence.document_no (the revocation decision)")]
    return []


def _valid_until_after_decision(p: Proposal) -> list[Refusal]:
    valid_until = p.evidence.get("valid_until")
    if valid_until is not None and isinstance(valid_until, dt.date) and valid_until <= p.effective_date:
        return [Refusal("valid_until_after_decision",
                        f"有效期至{valid_until}不晚于认定日期{p.effective_date} — evidence.valid_until must be "
                        f"after the decision date")]
    return []


def _prerequisite_valid(p: Proposal) -> list[Refusal]:
    tier = PREREQUISITE.get(p.trigger)
    if tier and not any(t.tier == tier and t.valid_on(p.effective_date) for t in p.titles):
        label = p.rulebook.label(tier)
        return [Refusal("prerequisite_title_valid",
                        f"认定日期{p.effective_date}时“{label}”称号不在有效期内 — {p.trigger} needs a {tier} "
                        f"title valid on {p.effective_date}")]
    return []


def _title_still_valid(p: Proposal) -> list[Refusal]:
    if p.trigger != "renew" or p.state not in TITLE_TIERS:
        return []
    title = current_title(p.titles, p.state)
    if title is None or not title.valid_on(p.effective_date):
        until = f" (valid until {title.valid_until})" if title else ""
        return [Refusal("title_valid_for_renewal",
                        f"“{p.rulebook.label(p.state)}”称号在{p.effective_date}已不在有效期内，不能复核续期 — the "
                        f"{p.state} title is not valid on {p.effective_date}{until}; a lapsed title expires and "
                        f"must be recognised anew")]
    return []


def _title_lapsed(p: Proposal) -> list[Refusal]:
    if p.trigger != "expire" or p.state not in TITLE_TIERS:
        return []
    title = current_title(p.titles, p.state)
    if title is not None and title.valid_until >= p.effective_date:
        return [Refusal("title_lapsed",
                        f"“{p.rulebook.label(p.state)}”称号有效期至{title.valid_until}，尚未届满 — the {p.state} "
                        f"title is valid until {title.valid_until}; it can expire from "
                        f"{title.valid_until + dt.timedelta(days=1)}")]
    return []


GUARDS: tuple[Callable[[Proposal], list[Refusal]], ...] = (
    _date_not_in_future,
    _date_not_before_latest,
    _bar_passed,
    _reason_code_in_catalogue,
    _reason_text,
    _decision_evidence,
    _valid_until_after_decision,
    _prerequisite_valid,
    _title_still_valid,
    _title_lapsed,
)


def check(proposal: Proposal) -> list[Refusal]:
    return [refusal for guard in GUARDS for refusal in guard(proposal)]


def check_state_only(proposal: Proposal) -> list[Refusal]:
    """The guards that depend on the firm alone, not on the evidence a caller will bring.

    Used to tell a caller which triggers are open before it has chosen a date or a document.
    """
    structural = (_bar_passed, _prerequisite_valid, _title_still_valid, _title_lapsed)
    return [refusal for guard in structural for refusal in guard(proposal)]
