"""Loans recorded by banks: each an audited, hash-chained record with the ceiling that applied when it was signed.

The bank is the calling principal (an ``integrator`` granted ``record_loan``); its loans form its own record chain
(``chain_records``: chain ``loans``, key = its principal id), never events of the firm's chain. Appending locks the
bank's principal row first, so two of its requests append one after the other. A bank sees and changes only its own
loans; officials and auditors read every bank's loans to firms in their jurisdiction.
贷款由银行（接入系统）登记，按银行成链，记录签约日适用的授信上限；超出剩余额度的贷款标记 over_ceiling。
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipeline.access import Actor, in_jurisdiction, require_permission
from pipeline.credit.ceilings import credit, outstanding_on, require_reader, unsecured_outstanding
from pipeline.dates import business_today, utc_now
from pipeline.errors import AlreadyExists, InvalidInput, NotFound
from pipeline.firms import repository
from pipeline.history import ledger
from pipeline.lifecycle.chain import format_timestamp
from pipeline.models import Enterprise, Loan, Principal
from pipeline.rulebooks import rulebook_in_force
from pipeline.webhooks import queue

CHAIN = "loans"
RECORD_ACTION = "record_loan"
DAY_DEPENDENT = ("outstanding_yuan", "overdue")


@dataclass(frozen=True)
class LoanTerms:
    bank: str
    product: str
    contract_no: str
    amount_yuan: int
    signed_on: dt.date
    matures_on: dt.date
    secured: bool


def view(loan: Loan, as_of: dt.date | None = None) -> dict[str, Any]:
    """The loan as the API and its chain show it; ``outstanding_yuan`` and ``overdue`` on ``as_of`` (today)."""
    day = as_of or business_today()
    owed = outstanding_on(loan, day)
    return {
        "id": loan.id, "bank_id": loan.bank_id, "bank": loan.bank, "uscc": loan.uscc, "region_code": loan.region_code,
        "product": loan.product, "contract_no": loan.contract_no, "amount_yuan": loan.amount_yuan,
        "signed_on": loan.signed_on.isoformat(), "matures_on": loan.matures_on.isoformat(), "secured": loan.secured,
        "ceiling_yuan": loan.ceiling_yuan, "headroom_yuan": loan.headroom_yuan, "over_ceiling": loan.over_ceiling,
        "ceiling_checked_at": format_timestamp(loan.ceiling_checked_at),
        "policies": list(loan.ceiling_basis.get("policies", [])), "basis": loan.ceiling_basis.get("basis", ""),
        "repaid_yuan": loan.repaid_yuan, "repayments": [dict(r) for r in loan.repayments],
        "outstanding_yuan": owed, "overdue": owed > 0 and day > loan.matures_on,
        "recorded_at": format_timestamp(loan.recorded_at),
    }


def _lock_bank(session: Session, actor: Actor) -> None:
    """The bank's principal row, locked: its chain's appends queue behind each other."""
    session.execute(select(Principal.id).where(Principal.id == actor.id).with_for_update()).first()


def _check_terms(terms: LoanTerms) -> None:
    if not terms.bank.strip() or not terms.contract_no.strip() or not terms.product.strip():
        raise InvalidInput("bank、product、contract_no 不能为空 — bank, product and contract_no must not be blank",
                           field="contract_no")
    if terms.amount_yuan <= 0:
        raise InvalidInput("贷款金额应为正整数（元） — amount_yuan must be a positive integer", field="amount_yuan")
    if terms.signed_on > business_today():
        raise InvalidInput(f"签约日期{terms.signed_on}晚于今天 — signed_on is in the future", field="signed_on")
    if terms.matures_on < terms.signed_on:
        raise InvalidInput("到期日早于签约日 — matures_on is before signed_on", field="matures_on")


def record(session: Session, uscc: str, terms: LoanTerms, *, actor: Actor, request_id: str | None = None) -> Loan:
    """Record a loan of the calling bank; the ceiling that applied on ``signed_on`` is checked now and kept."""
    require_permission(rulebook_in_force(business_today()), actor, RECORD_ACTION)
    _check_terms(terms)
    _lock_bank(session, actor)
    # the firm too: another bank's loan to it waits, so each loan's headroom counts the ones before it
    enterprise = repository.get_enterprise(session, uscc, actor, for_update=True)
    if session.scalar(select(Loan.id).where(Loan.bank_id == actor.id, Loan.contract_no == terms.contract_no)):
        raise AlreadyExists(f"本行已登记合同号{terms.contract_no} — this bank already recorded contract "
                            f"{terms.contract_no!r}", field="contract_no")
    checked_at = utc_now()
    answer = credit(session, enterprise, as_of=terms.signed_on)
    headroom = answer.headroom_yuan
    loan = Loan(
        bank_id=actor.id, bank=terms.bank.strip(), enterprise_id=enterprise.id, uscc=enterprise.uscc,
        region_code=enterprise.region_code, product=terms.product.strip(), contract_no=terms.contract_no.strip(),
        amount_yuan=terms.amount_yuan, signed_on=terms.signed_on, matures_on=terms.matures_on, secured=terms.secured,
        ceiling_yuan=answer.ceiling_yuan, headroom_yuan=headroom,
        over_ceiling=not terms.secured and headroom is not None and terms.amount_yuan > headroom,
        ceiling_checked_at=checked_at, recorded_at=checked_at, repayments=[], repaid_yuan=0,
        ceiling_basis={"basis": answer.basis, "policies": [p.as_dict() for p in answer.policies],
                       "highest_title": answer.highest_title},
    )
    session.add(loan)
    session.flush()
    _seal(session, loan, "record", actor, request_id)
    return loan


def _seal(session: Session, loan: Loan, action: str, actor: Actor, request_id: str | None) -> None:
    """Append the loan as it now stands to its bank's chain (without what depends on the reading day)."""
    sealed = {key: value for key, value in view(loan).items() if key not in DAY_DEPENDENT}
    record = ledger.append(session, CHAIN, loan.bank_id, action, sealed, actor=actor.id, request_id=request_id)
    queue.enqueue_own(session, loan.bank_id, loan.region_code, "loan", f"loan_{record.id}",
                      {"action": action, "loan": view(loan)})


def get_loan(session: Session, loan_id: int, actor: Actor) -> Loan:
    """A bank's own loan (another bank's is absent to it); officials and auditors: any in their jurisdiction."""
    require_reader(actor)
    loan = session.get(Loan, loan_id)
    visible = loan is not None and (loan.bank_id == actor.id if actor.role == "integrator"
                                    else actor.covers(loan.region_code))
    if loan is None or not visible:
        raise NotFound(f"未找到贷款{loan_id} — no loan {loan_id} of yours")
    return loan


def repay(session: Session, loan_id: int, repaid_on: dt.date, amount_yuan: int | None, *, actor: Actor,
          request_id: str | None = None) -> Loan:
    """Record a repayment (the rest of the loan when ``amount_yuan`` is not given) by the lending bank."""
    require_permission(rulebook_in_force(business_today()), actor, RECORD_ACTION)
    loan = get_loan(session, loan_id, actor)
    if loan.bank_id != actor.id:
        raise NotFound(f"未找到贷款{loan_id} — no loan {loan_id} of yours")
    _lock_bank(session, actor)
    session.refresh(loan)
    remaining = loan.amount_yuan - loan.repaid_yuan
    amount = remaining if amount_yuan is None else amount_yuan
    if remaining <= 0:
        raise InvalidInput(f"贷款{loan_id}已还清 — loan {loan_id} is already repaid", field="amount_yuan")
    if amount <= 0 or amount > remaining:
        raise InvalidInput(f"还款金额应在1至{remaining}元之间 — amount_yuan must be 1..{remaining}",
                           field="amount_yuan")
    if repaid_on < loan.signed_on or repaid_on > business_today():
        raise InvalidInput(f"还款日期应在签约日{loan.signed_on}至今天之间 — repaid_on must lie between signed_on and "
                           f"today", field="repaid_on")
    loan.repayments = [*loan.repayments, {"repaid_on": repaid_on.isoformat(), "amount_yuan": amount,
                                          "recorded_at": format_timestamp(utc_now())}]
    loan.repaid_yuan = loan.repaid_yuan + amount
    session.flush()
    _seal(session, loan, "repay", actor, request_id)
    return loan


def loans(session: Session, actor: Actor, *, bank: str | None = None, region: str | None = None,
          as_of: dt.date | None = None, after_id: int = 0, limit: int = 100) -> tuple[list[Loan], bool]:
    """Loans signed by ``as_of`` (default today), by id after ``after_id``: a bank's own; an official's or
    auditor's in their jurisdiction (and ``region``), of one bank (principal id or name) when asked."""
    require_reader(actor)
    day = as_of or business_today()
    query = (select(Loan).join(Enterprise, Enterprise.id == Loan.enterprise_id)
             .where(Loan.id > after_id, Loan.signed_on <= day).order_by(Loan.id).limit(limit + 1))
    if actor.role == "integrator":
        query = query.where(Loan.bank_id == actor.id)
    if bank:
        query = query.where(or_(Loan.bank_id == bank, Loan.bank == bank))
    found = list(session.scalars(in_jurisdiction(query, actor, region)))
    return found[:limit], len(found) > limit


__all__ = ["CHAIN", "LoanTerms", "get_loan", "loans", "record", "repay", "unsecured_outstanding", "view"]
