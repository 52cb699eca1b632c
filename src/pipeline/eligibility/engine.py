"""Eligibility screening: a rulebook's tier criteria, evaluated for one firm-year.

The criteria are data — ``eligibility.toml`` beside each ``rulebook.toml`` — and this module holds no
policy number. It knows five shapes of condition and evaluates them in three-valued logic:

``check``  an indicator (or the sum / mean / compound growth of several) compared with a value
``flag``   a context flag: ``holds_innovative`` / ``holds_provincial``, or ``holds_side_title:<kind>``
``award``  award records matching a pattern (type, level, rank, look-back window)
``all`` / ``any``  groups of conditions
``score``  banded points per item, category minimums and a minimum total (the 创新型 score)

A condition on an indicator the caller did not supply is *unknown*, never zero: a firm that might pass
comes out ``passed=None`` with the missing indicators named. Values follow the rulebook's ``indicators``
table (:func:`indicator_catalogue`): **ratios are decimals** (5% is 0.05), amounts are yuan, ``None`` or
an absent key means "not known".

Criteria are compiled once per (rulebook id, content hash, tier) and reused for every firm.

**Local overlays** (:mod:`pipeline.rulebooks.overlay`). Given the firm's ``region_code``, the overlays on
the rulebook that cover it add their indicators to the catalogue (a 河南 firm may carry Henan's 特色化
keys; a Beijing firm may not), and the most specific overlay with a ``characteristic`` block for the tier
adds the category ``characteristic`` (特色化): banded points per indicator, a missing indicator unknown
(a range of points, never zero), ``overlay`` naming the overlay. The category is *reported beside* the
national criteria and never changes ``passed``, ``unmet``, ``missing`` or ``gap``: the national condition
stays ``provincial_score ≥ 60``, the province's full 13-indicator score. When ``provincial_score`` is not
supplied that condition stays unknown — the engine's 特色化 points are not taken to complete a score, since
the other 85 points (专业化, 精细化, 创新能力) are scored by the province. ``result.overlays`` records each
overlay scored (id, content hash, region). Without a region, or where no overlay applies, the result is
exactly the national one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import numbers
import operator
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, NamedTuple

from pipeline.errors import InvalidInput, NotFound
from pipeline.json_numbers import MAX_SAFE_INTEGER, stored_value
from pipeline.rulebooks import Rulebook, all_rulebooks
from pipeline.rulebooks.overlay import Overlay, overlays_for

__all__ = [
    "Award", "CategoryScore", "CriteriaError", "EligibilityResult", "Gap", "IndicatorSpec", "ItemScore",
    "OverlayRef", "TierCriteria", "Unmet", "compile_criteria", "criteria_for", "evaluate", "indicator_catalogue",
    "slot_constructor", "validate_indicators",
]

Truth = bool | None
CONTEXT_FLAGS = ("holds_innovative", "holds_provincial")
SIDE_TITLE_FLAG: Final = "holds_side_title:"
"""``flag = "holds_side_title:<kind>"``: the firm holds a valid side title of that kind (高新技术企业 …). Side
titles are the system's own records, so a firm with none recorded holds none: false, never unknown."""
ASSESSMENT_LAG = 1
"""Assessment year = data year + 1: an application in year A is judged on the figures of year A − 1."""
_FAST_ROUND_DECIMALS = 15
"""Derived quotients rounded to at most this many decimals skip round()'s decimal string when exact (10^d is an
exact double up to d = 22; 15 keeps the product's error far below the margin the check leaves)."""
_NUMERIC_OPS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
_OP_SYMBOLS = {**_NUMERIC_OPS, "eq": "=", "in": "∈", "contains_any": "includes any of",
               "contains_all": "includes all of"}


class CriteriaError(ValueError):
    """The eligibility data of a rulebook is malformed (a gap between bands, an unknown indicator …)."""


class _Inconsistent(Exception):
    """Raised by a tier's generated judge on inconsistent values or a context it does not take plainly: the mapping
    path then names them."""


# ------------------------------------------------------------------------------------------- results


class Award(NamedTuple):
    type: str
    level: str
    year: int
    rank: int | None


_AWARD_FIELDS = Award._fields
"""The keys of an award record, in the order of :class:`Award`'s fields."""

_new_tuple = tuple.__new__
"""A NamedTuple record from a tuple of every field, without the keyword-capable ``__new__`` in between."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # the NamedTuple records
        return {key: _jsonable(item) for key, item in value._asdict().items()}
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


class _Record:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class IndicatorSpec(_Record):
    key: str
    type: str
    """``number`` | ``integer`` | ``bool`` | ``enum`` | ``set`` | ``awards``."""
    unit: str | None
    minimum: float | None
    maximum: float | None
    label_zh: str
    label_en: str
    values: Mapping[str, str]
    """Allowed codes of an enum / set, or the award types, with their labels."""
    levels: Mapping[str, str]
    """Award levels (``awards`` only)."""
    derive: tuple[str, str] | None
    """``(numerator, denominator)``: filled as that quotient when absent."""
    note: str


# The per-item and per-condition records are NamedTuples: immutable like the dataclasses, and about four
# times cheaper to build, which matters when 100,000 firms each fail a dozen conditions.


class ItemScore(NamedTuple):
    """One scored indicator: its band and points, or the range of points still possible."""

    code: str
    category: str
    label_zh: str
    label_en: str
    points: int | None
    points_range: tuple[int, int]
    band_zh: str | None
    band_en: str | None
    value: Any
    missing: tuple[str, ...]


class CategoryScore(NamedTuple):
    code: str
    label_zh: str
    label_en: str
    points: int | None
    points_range: tuple[int, int]
    min_points: int
    max_points: int
    overlay: str | None = None
    """The local overlay that defines the category (``characteristic``); None for national categories."""


class OverlayRef(NamedTuple):
    """A local overlay that was scored in a result: enough to find the exact file again."""

    id: str
    content_hash: str
    region: str


class Unmet(NamedTuple):
    """A condition the firm does not (``failed``) or may not (``unknown``) meet.

    A group carries its unmet members in ``children``; for an ``any`` group they are the alternatives,
    any one of which would do. ``shortcut`` marks direct conditions and waivers.
    """

    code: str
    kind: str
    status: str
    label_zh: str
    label_en: str
    missing: tuple[str, ...] = ()
    required: str | None = None
    actual: Any = None
    shortcut: str | None = None
    points_short: int | None = None
    children: tuple[Unmet, ...] = ()

    def walk(self) -> Iterator[Unmet]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class Gap(_Record):
    """How far a firm is from passing, on its cheapest route (direct conditions and waivers aside).

    ``conditions``: the failed conditions; ``points``: score points short; ``unknown``: conditions that
    missing data leaves open. Rank candidates who "nearly pass" by :attr:`rank_key`.
    """

    conditions: tuple[str, ...] = ()
    points: int = 0
    unknown: tuple[str, ...] = ()

    @property
    def rank_key(self) -> tuple[int, int, int]:
        return len(self.conditions), self.points, len(self.unknown)


@dataclass(frozen=True, slots=True)
class EligibilityResult(_Record):
    tier: str
    rulebook_id: str
    rulebook_hash: str
    year: int
    re_review: bool
    passed: bool | None
    """True / False, or None when missing data leaves the outcome open."""
    total_points: int | None
    """The score of a scored tier (创新型); None when unscored or not every item is known."""
    categories: tuple[CategoryScore, ...]
    items: tuple[ItemScore, ...]
    unmet: tuple[Unmet, ...]
    missing: tuple[str, ...]
    """Indicators (and context flags) whose absence leaves a condition open."""
    direct_condition: str | None
    """The first direct condition (直通条件) the firm meets; it satisfies its group on its own."""
    waivers: tuple[str, ...]
    not_applicable: tuple[str, ...]
    """Conditions skipped in this context (growth at re-review, rules of other years)."""
    gap: Gap
    overlays: tuple[OverlayRef, ...] = ()
    """The local overlays scored in this result (see the module docstring); empty when none applied."""

    @property
    def category_points(self) -> dict[str, int | None]:
        return {category.code: category.points for category in self.categories}

    def unmet_codes(self) -> tuple[str, ...]:
        """Every unmet condition, groups and their members, depth first."""
        return tuple(entry.code for top in self.unmet for entry in top.walk())

    def to_dict(self) -> dict[str, Any]:
        return {**_Record.to_dict(self), "category_points": self.category_points}


# ---------------------------------------------------------------------------------------- indicators


def _refusal(spec: IndicatorSpec, value: Any, zh: str, en: str) -> InvalidInput:
    hint = "; ratios are decimals (5% = 0.05)" if spec.unit == "ratio" else ""
    return InvalidInput(f"指标 {spec.key}（{spec.label_zh}）{zh}，收到 {value!r} — "
                        f"indicator {spec.key} ({spec.label_en}) {en}, got {value!r}{hint}", field=spec.key)


def _number_validator(spec: IndicatorSpec) -> Callable[[Any], Any]:
    integer, low, high = spec.type == "integer", spec.minimum, spec.maximum
    if low is not None and high is not None:
        bounds = f"应在 {low:g} 至 {high:g} 之间", f"must be between {low:g} and {high:g}"
    elif low is not None:
        bounds = f"不应小于 {low:g}", f"must be at least {low:g}"
    else:
        bounds = f"不应大于 {high:g}", f"must be at most {high:g}"

    floor = -math.inf if low is None else low
    ceiling = math.inf if high is None else high
    fast_type = int if integer else float

    def check(value: Any) -> Any:
        if type(value) is fast_type and floor <= value <= ceiling:  # the common case, checked cheaply
            return value
        kind = type(value)
        if kind is not int and kind is not float and (
                kind is bool or not isinstance(value, numbers.Real | Decimal)):
            raise _refusal(spec, value, "应为数值", "must be a number")
        number: float | int
        if integer:
            if kind is not int and not float(value).is_integer():
                raise _refusal(spec, value, "应为整数", "must be a whole number")
            number = int(value)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise _refusal(spec, value, "应为有限数值", "must be a finite number")
        if (low is not None and number < low) or (high is not None and number > high):
            raise _refusal(spec, value, *bounds)
        return number

    return check


def _code_validator(spec: IndicatorSpec) -> Callable[[Any], Any]:
    allowed = ", ".join(spec.values)
    if spec.type == "bool":
        def check_bool(value: Any) -> Any:
            if value is True or value is False:
                return value
            raise _refusal(spec, value, "应为 true 或 false", "must be true or false")
        return check_bool
    if spec.type == "enum":
        def check_enum(value: Any) -> Any:
            if isinstance(value, str) and value in spec.values:
                return value
            raise _refusal(spec, value, f"应为以下之一：{allowed}", f"must be one of: {allowed}")
        return check_enum

    def check_set(value: Any) -> Any:
        if isinstance(value, list | tuple | set | frozenset):
            codes = frozenset(value)
            if all(isinstance(code, str) and code in spec.values for code in codes):
                return codes
        raise _refusal(spec, value, f"应为代码列表，可选：{allowed}",
                       f"must be a list of codes from: {allowed}")
    return check_set


def _awards_validator(spec: IndicatorSpec, raw: Mapping[str, Any], where: str) -> Callable[[Any], Any]:
    year_min, year_max = _int(raw, "year_min", where), _int(raw, "year_max", where)
    rank_min = _int(raw, "rank_min", where)
    types, levels = ", ".join(spec.values), ", ".join(spec.levels)
    shape = (f"每条记录应为 {{type, level, year, rank?}}，type 可选 {types}，level 可选 {levels}",
             f"each record must be {{type, level, year, rank?}} with type in {types}, level in {levels}")

    fields = frozenset({"type", "level", "year", "rank"})
    award_types, award_levels = spec.values, spec.levels

    def check(value: Any) -> Any:
        if type(value) is not list and not isinstance(value, list | tuple):  # a JSON list tested first, cheaply
            raise _refusal(spec, value, "应为获奖记录列表", "must be a list of award records")
        records = []
        for record in value:
            if type(record) is dict:  # what JSON gives: its keys view is compared without building a set
                shaped = record.keys() <= fields
            else:
                shaped = isinstance(record, Mapping) and set(record) <= fields
            if not shaped:
                raise _refusal(spec, record, *shape)
            kind, level, year, rank = map(record.get, _AWARD_FIELDS)
            if kind not in award_types or level not in award_levels:
                raise _refusal(spec, record, *shape)
            if type(year) is not int or not year_min <= year <= year_max:
                raise _refusal(spec, record, f"获奖年度应在 {year_min} 至 {year_max} 之间",
                               f"award year must be between {year_min} and {year_max}")
            if rank is not None and (type(rank) is not int or rank < rank_min):
                raise _refusal(spec, record, f"排名应为不小于 {rank_min} 的整数",
                               f"rank must be a whole number of at least {rank_min}")
            records.append(_new_tuple(Award, (kind, level, year, rank)))
        return tuple(records)

    return check


def _within_source(spec: IndicatorSpec, src: _Source) -> Callable[[str], str]:
    """`` and <bounds>`` of a numeric indicator for a source expression (nothing for an open side)."""
    bounds = ([f"{src.const(spec.minimum)} <= {{}}"] if spec.minimum is not None else []) + (
        [f"{{}} <= {src.const(spec.maximum)}"] if spec.maximum is not None else [])
    return lambda expression: "".join(f" and {bound.format(expression)}" for bound in bounds)


def _plain_cases(spec: IndicatorSpec, value: str, src: _Source) -> list[tuple[str, str | None]]:
    """The common cases of a present value of ``spec`` that generated checks pass without its validator (a number
    in range, a bool, a known code …): ``(condition, the clean value's expression or None when it is the value
    itself)``, in the order to test them. What none of them passes goes to the validator."""
    if spec.type in ("number", "integer"):
        within = _within_source(spec, src)
        cases: list[tuple[str, str | None]] = [
            (f"type({value}) is {'int' if spec.type == 'integer' else 'float'}{within(value)}", None)]
        if spec.type == "number":  # a whole number (JSON's 0) stands for that float
            cases.append((f"type({value}) is int{within(f'float({value})')}", f"float({value})"))
        return cases
    if spec.type == "bool":
        return [(f"{value} is True or {value} is False", None)]
    if spec.type == "enum":
        return [(f"type({value}) is str and {value} in {src.const(spec.values)}", None)]
    if spec.type == "set":  # a list of known codes (a code is a str: only a str equals one)
        return [(f"type({value}) is list and {src.const(frozenset(spec.values))}.issuperset({value})",
                 f"frozenset({value})")]
    if spec.type == "awards":  # no award records: what the validator makes of an empty list
        return [(f"type({value}) is list and not {value}", "()")]
    return []


class _Indicators:
    """The indicator table of a rulebook: validation, derivation and consistency of a firm-year."""

    def __init__(self, section: Mapping[str, Any]) -> None:
        self.decimals = _int(section, "derived_value_decimals", "eligibility")
        year = _table(section.get("context", {}), "year", "context")
        self.year_range = (_int(year, "min", "context.year"), _int(year, "max", "context.year"))
        self.specs: dict[str, IndicatorSpec] = {}
        self.validators: dict[str, Callable[[Any], Any]] = {}
        for key, raw in _table(section, "indicators", "eligibility").items():
            where = f"indicators.{key}"
            derive = _list(raw["derive"], "quotient", where) if "derive" in raw else None
            spec = IndicatorSpec(
                key=key, type=_str(raw, "type", where), unit=raw.get("unit"), minimum=raw.get("min"),
                maximum=raw.get("max"), label_zh=_str(raw, "label_zh", where),
                label_en=_str(raw, "label_en", where), values=dict(raw.get("values", {})),
                levels=dict(raw.get("levels", {})), derive=(derive[0], derive[1]) if derive else None,
                note=raw.get("note", ""),
            )
            self.specs[key] = spec
            if spec.type in ("number", "integer"):
                if spec.minimum is None and spec.maximum is None:
                    raise CriteriaError(f"{where}: a number needs min or max")
                self.validators[key] = _number_validator(spec)
            elif spec.type in ("bool", "enum", "set"):
                self.validators[key] = _code_validator(spec)
            elif spec.type == "awards":
                self.validators[key] = _awards_validator(spec, raw, where)
            else:
                raise CriteriaError(f"{where}: unknown type {spec.type!r}")
        self.derivations = tuple((spec.key, *spec.derive) for spec in self.specs.values() if spec.derive)
        self.consistency = tuple(
            (_str(rule, "lesser", "consistency"), _str(rule, "greater", "consistency"),
             _str(rule, "label_zh", "consistency"), _str(rule, "label_en", "consistency"))
            for rule in section.get("consistency", ())
        )
        for key in {key for row in self.derivations for key in row} | {
                key for row in self.consistency for key in row[:2]}:
            self.numeric(key, "indicators (derive / consistency)")
        self.known = frozenset(self.validators)
        self._validate = self._compile_validation()
        self._complete = self._compile_completion()

    def spec(self, key: Any, where: str) -> IndicatorSpec:
        if key not in self.specs:
            raise CriteriaError(f"{where}: unknown indicator {key!r}")
        return self.specs[key]

    def numeric(self, key: Any, where: str) -> IndicatorSpec:
        spec = self.spec(key, where)
        if spec.type not in ("number", "integer"):
            raise CriteriaError(f"{where}: indicator {key!r} is not a number")
        return spec

    def prepare(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validated, normalised values with derived indicators filled in; unknowns stay absent."""
        if not isinstance(values, Mapping):
            raise InvalidInput("指标应为键值映射 — indicators must be a mapping of key to value",
                               field="indicators")
        validators = self.validators
        unknown = () if validators.keys() >= values.keys() else values.keys() - validators.keys()
        if unknown:
            name = sorted(map(str, unknown))[0]
            raise InvalidInput(f"未知指标 {name!r} — unknown indicator {name!r}; "
                               f"known indicators: {', '.join(self.specs)}", field=name)
        return self._complete({key: validators[key](value) for key, value in values.items() if value is not None})

    def prepare_fast(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`prepare`, with each value's common case (a number in range, a bool, a known code) tested inline.

        Anything the generated checks do not pass plainly (a value to convert or refuse, a key not in the
        catalogue, a mapping that is not a dict) goes through :meth:`prepare`, which converts it or raises
        the same refusal as always — for the first offending value in the caller's order.
        """
        if type(values) is not dict or not self.known.issuperset(values):
            return self.prepare(values)
        try:
            clean = self._validate(values)
        except Exception:  # whatever it was, prepare() raises it again, for the first offending value
            return self.prepare(values)
        return self._complete(clean)

    def _compile_validation(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The generated checks of :meth:`prepare_fast`: a copy of the values, fixed up where needed."""
        src = _Source("validate(values)", "clean = dict(values)", "get = values.get")
        for key, spec in self.specs.items():
            value, name, validator = src.var("v"), src.const(key), src.const(self.validators[key])
            src.line(f"{value} = get({name})")
            with src.block(f"if {value} is None:"):
                src.line(f"clean.pop({name}, None)")  # an explicit None: not known
            for condition, cleaned in _plain_cases(spec, value, src):
                with src.block(f"elif {condition}:"):
                    src.line("pass" if cleaned is None else f"clean[{name}] = {cleaned}")
            with src.block("else:"):
                src.line(f"clean[{name}] = {validator}({value})")
        src.line("return clean")
        return src.build("indicators")

    def _compile_completion(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """Check the consistency rules and fill in the derived indicators of validated values (generated)."""
        src = _Source("complete(clean)", "get = clean.get")
        for n, (lesser, greater, _label_zh, _label_en) in enumerate(self.consistency):
            low, high = src.var("v"), src.var("v")
            src.line(f"{low} = get({src.const(lesser)})")
            src.line(f"{high} = get({src.const(greater)})")
            with src.block(f"if {low} is not None and {high} is not None and {low} > {high}:"):
                src.line(f"{src.const(self._inconsistent)}(clean, {n})")
        for target, numerator, denominator in self.derivations:
            name, over, under = src.const(target), src.var("v"), src.var("v")
            with src.block(f"if {name} not in clean:"):
                src.line(f"{over} = get({src.const(numerator)})")
                src.line(f"{under} = get({src.const(denominator)})")
                with src.block(f"if {over} is not None and {under} is not None and {under} > 0:"):
                    self._emit_quotient(src, target, over, under, f"clean[{name}]")
        src.line("return clean")
        return src.build("derived indicators")

    def emit_locals(self, src: _Source, stored: bool = False) -> None:
        """Emit the checks of :meth:`prepare_fast` and the derivations into locals, one per indicator, and point
        ``src.locals`` at them: what a tier's judge then reads without building the ``clean`` dict.

        The generated code takes ``values`` as a dict (the caller checks) and raises when it holds a key outside the
        catalogue. What the inline checks do not pass plainly goes to the indicator's validator; a value it refuses,
        an inconsistency or an unknown key raises, and the caller takes the mapping path (:meth:`prepare_fast`),
        which raises the same refusal as always.

        ``stored``: the values are a JSON document as decoded, to be read as :func:`stored_value` gives it back,
        without the copy it makes. A plain case takes what that changes alike (an integral float as the integer, a
        number beyond 2^53 as the float: the same clean value), except an integer beyond 2^53, which, as everything
        not plain, goes to the validator through :func:`stored_value`.
        """
        names = {key: src.var("x") for key in self.specs}
        # every value read in one call: the dict's get mapped over the keys in C, not one call per key
        src.line(f"{', '.join(names.values())}, = map(get, {src.const(tuple(names))})")
        src.line("absent = 0")  # catalogue keys the values lack (or give as None)
        for key, spec in self.specs.items():
            value = names[key]
            # the likelier first: numbers and flags are mostly given, codes and award lists mostly absent
            cases = _plain_cases(spec, value, src)
            if stored and spec.type == "integer":
                cases[0] = (f"{cases[0][0]} and {src.const(-MAX_SAFE_INTEGER)} <= {value} <= "
                            f"{src.const(MAX_SAFE_INTEGER)}", cases[0][1])
            first = 0 if spec.type in ("enum", "set", "awards") else 1
            for n, (condition, cleaned) in enumerate([*cases[:first], (f"{value} is None", None), *cases[first:]]):
                with src.block(f"{'elif' if n else 'if'} {condition}:"):
                    if condition == f"{value} is None":
                        src.line("absent += 1")
                    else:
                        src.line("pass" if cleaned is None else f"{value} = {cleaned}")
            with src.block("else:"):
                read = f"{src.const(stored_value)}({value})" if stored else value
                src.line(f"{value} = {src.const(self.validators[key])}({read})")
        # No key outside the catalogue: as many keys as catalogue keys given, or else (some given as None) the test
        # key by key. The count comes from the checks above, for the price of the absent keys alone.
        with src.block(f"if len(values) + absent != {len(names)} and not {src.const(self.known)}.issuperset(values):"):
            src.line(f"raise {src.const(_Inconsistent)}")
        for lesser, greater, _label_zh, _label_en in self.consistency:
            low, high = names[lesser], names[greater]
            with src.block(f"if {low} is not None and {high} is not None and {low} > {high}:"):
                src.line(f"raise {src.const(_Inconsistent)}")
        for target, numerator, denominator in self.derivations:
            value, over, under = names[target], names[numerator], names[denominator]
            with src.block(f"if {value} is None and {over} is not None and {under} is not None and {under} > 0:"):
                self._emit_quotient(src, target, over, under, value)
        src.locals = names

    def _emit_quotient(self, src: _Source, target: str, over: str, under: str, store: str) -> None:
        """Emit ``store = `` the derived indicator ``target``, ``over / under`` rounded, checked as given values are."""
        quotient = src.var("q")
        src.line(f"{quotient} = {over} / {under}")
        if 0 <= self.decimals <= _FAST_ROUND_DECIMALS:
            # round(q, d) (≈ 0.5 µs: it goes through a decimal string) without the string where that is exact:
            # s = q·10^d is within 2^-13 of the exact product below 2^40, so when s lies clearly off a half-way point
            # (|s − f| < 0.499, f the nearest integer: exact, Sterbenz) f is the correctly rounded q·10^d, and
            # f / 10^d (both exact doubles) is the double nearest f·10^-d, which is what round() returns.
            scaled, nearest, scale = src.var("s"), src.var("f"), src.const(float(10**self.decimals))
            src.line(f"{scaled} = {quotient} * {scale}")
            src.line(f"{nearest} = ({scaled} + 0.5) // 1.0")
            with src.block(f"if 0.0 <= {scaled} < {src.const(2.0**40)} and -0.499 < {scaled} - {nearest} < 0.499:"):
                src.line(f"{quotient} = {nearest} / {scale}")
            with src.block("else:"):
                src.line(f"{quotient} = round({quotient}, {self.decimals})")
        else:
            src.line(f"{quotient} = round({quotient}, {self.decimals})")
        within = _within_source(self.specs[target], src)
        with src.block(f"if type({quotient}) is float{within(quotient)}:"):
            src.line(f"{store} = {quotient}")
        with src.block("else:"):
            src.line(f"{store} = {src.const(self.validators[target])}({quotient})")

    def _inconsistent(self, clean: Mapping[str, Any], rule: int) -> None:
        lesser, greater, label_zh, label_en = self.consistency[rule]
        facts = f"{lesser}={clean[lesser]!r} > {greater}={clean[greater]!r}"
        raise InvalidInput(f"{label_zh}：{facts} — {label_en}: {facts}", field=lesser)

    def check_context(self, year: Any, re_review: Any, flags: Mapping[str, Any]) -> None:
        low, high = self.year_range
        if type(year) is not int or not low <= year <= high:
            raise InvalidInput(f"评价年度应为 {low} 至 {high} 之间的整数，收到 {year!r} — "
                               f"year must be a whole number between {low} and {high}, got {year!r}",
                               field="year")
        if re_review is not True and re_review is not False:
            raise InvalidInput(f"re_review（是否复核）应为 true 或 false，收到 {re_review!r} — "
                               f"re_review must be true or false, got {re_review!r}", field="re_review")
        for name, value in flags.items():
            if value is not None and value is not True and value is not False:
                raise InvalidInput(f"{name} 应为 true、false 或 null（未知），收到 {value!r} — "
                                   f"{name} must be true, false or null (unknown), got {value!r}", field=name)


# --------------------------------------------------------------------------------------------- nodes
#
# The nodes check the rulebook data once, then *emit* the Python source that judges a firm: a tier's
# whole condition tree becomes one straight-line function, compiled once per rulebook and tier — reading a
# mapping of clean values (``TierCriteria._judge``), or, in the common case, the locals the same function
# validated the firm's values into (``TierCriteria._compiled_whole``). Labels, thresholds and prebuilt records
# are bound into the function by name (:meth:`_Source.const`), never printed into its text: no rulebook string
# is ever read as code.


class _Source:
    """A function being generated: its lines, the constants it refers to, fresh local names."""

    def __init__(self, signature: str, *setup: str) -> None:
        self.lines = [f"def {signature}:", *(f"    {line}" for line in setup)]
        self.depth = 1
        self.names: dict[str, Any] = {"_Unmet": Unmet, "_ItemScore": ItemScore, "_CategoryScore": CategoryScore,
                                      "_missing_of": _missing_of, "_new": tuple.__new__}
        self.count = 0
        self.locals: Mapping[str, str] | None = None
        """Indicator key → the local holding its validated value, once the function has read them into locals
        (:meth:`_Indicators.emit_locals`); until then values are read from the mapping ``values``."""
        self.keep: str | None = None
        """While the members of an ``any`` group are emitted: the test that their unmet records are still wanted —
        false once the group holds, when no one reads them (the group lists its members only when it does not
        hold). None: always wanted."""

    def value(self, key: str) -> str:
        """The expression of an indicator's (validated) value; None when not known."""
        return f"get({self.const(key)})" if self.locals is None else self.locals[key]

    def flag(self, name: str) -> str:
        """The expression of a flag's value: from the mapping ``flags``, or, once the function reads its values into
        locals, the context flag's parameter or the side title's membership of ``held`` (false when absent)."""
        side_title = name.startswith(SIDE_TITLE_FLAG)
        if self.locals is None:
            return f"flags.get({self.const(name)}, {False if side_title else None})"
        return f"({self.const(name)} in held)" if side_title else name

    def mapping(self, keys: Sequence[str]) -> str:
        """An expression of a mapping holding at least these indicators (for the helpers that take one)."""
        if self.locals is None:
            return "values"
        return "{" + ", ".join(f"{self.const(key)}: {self.locals[key]}" for key in dict.fromkeys(keys)) + "}"

    def record(self, kind: type[Unmet] | type[ItemScore] | type[CategoryScore], *fields: str) -> str:
        """A NamedTuple record built from source expressions, every field given: ``tuple.__new__`` directly
        (what its ``_make`` does), without the keyword-capable ``__new__`` in between."""
        assert len(fields) == len(kind._fields), (kind, fields)
        return f"_new(_{kind.__name__}, ({', '.join(fields)},))"

    def append(self, out: str, record: str) -> None:
        """Emit ``out.append(record)`` of a record built at run time, skipped where :attr:`keep` says no one reads
        it: an alternative of an ``any`` group that already holds, which 100,000 firms that pass would each build
        several of only to drop them."""
        if self.keep is None:
            self.line(f"{out}.append({record})")
        else:
            with self.block(f"if {self.keep}:"):
                self.line(f"{out}.append({record})")

    def const(self, value: Any) -> str:
        """The expression of a constant: a literal where it is a plain one (the code object holds it: a LOAD_CONST,
        not a global looked up by name — thousands per firm), else a global name bound to the value."""
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is str or (kind is float and math.isfinite(value)):
            literal = repr(value)
            return f"({literal})" if literal.startswith("-") else literal  # -1, -0.0: an operand whatever the operator
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def var(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header)
        self.depth += 1
        yield
        self.depth -= 1

    def build(self, label: str) -> Callable[..., Any]:
        namespace = dict(self.names)
        code = compile("\n".join(self.lines) + "\n", f"<eligibility: {label}>", "exec")
        exec(code, namespace)  # noqa: S102 — our own generated source; data is bound by name, not printed in
        function: Callable[..., Any] = namespace[self.lines[0][4:self.lines[0].index("(")]]
        return function


_ContextFilter = tuple[bool | None, int | None, int | None]


def _context_source(context: _ContextFilter, src: _Source) -> str:
    """The test of a ``when`` / ``unless`` filter on the generated function's ``re_review`` and ``year``."""
    re_review, from_year, until_year = context
    terms = ([f"re_review is {src.const(re_review)}"] if re_review is not None else []) + (
        [f"year >= {src.const(from_year)}"] if from_year is not None else []) + (
        [f"year <= {src.const(until_year)}"] if until_year is not None else [])
    return f"({' and '.join(terms)})" if terms else "True"


class _Node:
    __slots__ = ("code", "conditional", "label_en", "label_zh", "shortcut", "unless", "when")

    def __init__(self, code: str, raw: Mapping[str, Any], where: str) -> None:
        self.code = code
        self.label_zh, self.label_en = _str(raw, "label_zh", where), _str(raw, "label_en", where)
        _str(raw, "source", where)
        self.shortcut: str | None = raw.get("shortcut")
        if self.shortcut not in (None, "direct", "waiver"):
            raise CriteriaError(f"{where}: shortcut must be 'direct' or 'waiver'")
        self.when = _context_filter(raw.get("when"), f"{where}.when")
        self.unless = _context_filter(raw.get("unless"), f"{where}.unless")
        self.conditional = self.when is not None or self.unless is not None

    def applies_source(self, src: _Source) -> str:
        when = "True" if self.when is None else _context_source(self.when, src)
        unless = "True" if self.unless is None else f"not {_context_source(self.unless, src)}"
        return f"{when} and {unless}"

    def emit(self, src: _Source, out: str) -> str:
        """Emit the node's test; return the local holding True, or False / None after ``out`` got why not."""
        raise NotImplementedError

    def unmet_source(self, src: _Source, kind: str, status: str, missing: str = "()", required: str = "None",
                     actual: str = "None", points_short: str = "None", children: str = "()") -> str:
        """An :class:`Unmet` of this node built at run time, from source expressions."""
        return src.record(Unmet, src.const(self.code), src.const(kind), status, src.const(self.label_zh),
                          src.const(self.label_en), missing, required, actual, src.const(self.shortcut), points_short,
                          children)

    def unmet(self, kind: str, status: str, missing: tuple[str, ...] = (), required: str | None = None,
              actual: Any = None, points_short: int | None = None, children: tuple[Unmet, ...] = ()) -> Unmet:
        return Unmet(self.code, kind, status, self.label_zh, self.label_en, missing, required, actual,
                     self.shortcut, points_short, children)


class _Check(_Node):
    __slots__ = ("aggregate", "compare", "key", "keys", "op", "required", "threshold")

    def __init__(self, code: str, raw: Mapping[str, Any], where: str, indicators: _Indicators) -> None:
        super().__init__(code, raw, where)
        op, threshold = _str(raw, "op", where), raw.get("value")
        self.aggregate: Callable[[list[Any]], float] | None = None
        if "aggregate" in raw:
            self.keys = tuple(_list(raw, "of", where))
            spec, *_others = [indicators.numeric(key, where) for key in self.keys]  # every input numeric
            self.aggregate = _aggregator(_str(raw, "aggregate", where), indicators.decimals, where)
            subject = f"{raw['aggregate']}({', '.join(self.keys)})"
        else:
            spec = indicators.spec(raw.get("indicator"), where)
            self.keys, subject = (spec.key,), spec.key
        self.key = self.keys[0]
        self.compare = _comparator(op, threshold, spec, where)
        self.op, self.threshold = op, threshold
        self.required = f"{subject} {_OP_SYMBOLS[op]} {_show(threshold, spec)}"

    def emit(self, src: _Source, out: str) -> str:
        found = [src.var("v") for _key in self.keys]
        for name, key in zip(found, self.keys, strict=True):
            src.line(f"{name} = {src.value(key)}")
        required = src.const(self.required)
        if self.aggregate is None:
            value = found[0]
            unknown = src.const(self.unmet("check", "unknown", missing=self.keys, required=self.required))
        else:
            value = src.var("v")
            unknown = self.unmet_source(
                src, "check", "'unknown'", required=required,
                missing=f"tuple(k for k, x in zip({src.const(self.keys)}, ({', '.join(found)},)) if x is None)")
        truth = src.var("t")
        with src.block(f"if {' or '.join(f'{name} is None' for name in found)}:"):
            src.append(out, unknown)
            src.line(f"{truth} = None")
        with src.block("else:"):
            if self.aggregate is not None:
                src.line(f"{value} = {src.const(self.aggregate)}([{', '.join(found)}])")
            with src.block(f"if {_comparison_source(self.op, self.threshold, value, src)}:"):
                src.line(f"{truth} = True")
            with src.block("else:"):
                failed = self.unmet_source(src, "check", "'failed'", required=required, actual=value)
                src.append(out, failed)
                src.line(f"{truth} = False")
        return truth


class _Flag(_Node):
    __slots__ = ("flag", "value")

    def __init__(self, code: str, raw: Mapping[str, Any], where: str) -> None:
        super().__init__(code, raw, where)
        self.flag, self.value = _str(raw, "flag", where), raw.get("value")
        known = self.flag in CONTEXT_FLAGS or (self.flag.startswith(SIDE_TITLE_FLAG) and self.flag != SIDE_TITLE_FLAG)
        if not known or not isinstance(self.value, bool):
            raise CriteriaError(f"{where}: a flag is one of {CONTEXT_FLAGS} or {SIDE_TITLE_FLAG}<kind>, with a "
                                f"true/false value")

    def emit(self, src: _Source, out: str) -> str:
        value, truth = src.var("v"), src.var("t")
        required = f"{self.flag} = {str(self.value).lower()}"
        src.line(f"{value} = {src.flag(self.flag)}")
        unknown = self.unmet("flag", "unknown", missing=(self.flag,), required=required)
        with src.block(f"if {value} is None:"):
            src.line(f"{out}.append({src.const(unknown)})")
            src.line(f"{truth} = None")
        with src.block(f"elif {value} is {self.value}:"):
            src.line(f"{truth} = True")
        with src.block("else:"):
            failed = self.unmet_source(src, "flag", "'failed'", required=src.const(required), actual=value)
            src.append(out, failed)
            src.line(f"{truth} = False")
        return truth


class _AwardPattern(NamedTuple):
    types: frozenset[str]
    levels: frozenset[str]
    max_rank: int | None
    within_years: int | None


class _AwardCheck(_Node):
    __slots__ = ("key", "patterns", "required")

    def __init__(self, code: str, raw: Mapping[str, Any], where: str, indicators: _Indicators) -> None:
        super().__init__(code, raw, where)
        spec = indicators.spec(raw.get("indicator"), where)
        if spec.type != "awards":
            raise CriteriaError(f"{where}: {spec.key!r} is not an awards indicator")
        self.key = spec.key
        self.patterns = tuple(
            _AwardPattern(frozenset(_list(p, "types", where)), frozenset(_list(p, "levels", where)),
                          p.get("max_rank"), p.get("within_years"))
            for p in _list(raw, "match", where))
        for p in self.patterns:
            if not p.types <= spec.values.keys() or not p.levels <= spec.levels.keys():
                raise CriteriaError(f"{where}: unknown award type or level in {p}")
        self.required = " | ".join(
            f"{'/'.join(sorted(p.types))} {'/'.join(sorted(p.levels))}"
            + (f" rank ≤ {p.max_rank}" if p.max_rank is not None else "")
            + (f" within {p.within_years} years" if p.within_years is not None else "")
            for p in self.patterns)

    def emit(self, src: _Source, out: str) -> str:
        truth = src.var("t")
        awards = src.var("v")
        src.line(f"{awards} = {src.value(self.key)}")
        with src.block(f"if {awards} == ():"):  # no award at all (most firms): failed, the record built once
            src.line(f"{out}.append({src.const(self.unmet('award', 'failed', required=self.required, actual=()))})")
            src.line(f"{truth} = False")
        with src.block("else:"):
            src.line(f"{truth} = {src.const(self.judge)}({awards}, year, {out})")
        return truth

    def judge(self, awards: tuple[Award, ...] | None, year: int, out: list[Unmet]) -> Truth:
        rank_unknown = False
        # the records unpacked, not read by field name (a descriptor call each): every firm with an award comes here
        for kind, level, award_year, rank in awards or ():
            for types, levels, max_rank, within_years in self.patterns:
                if (kind in types and level in levels and award_year <= year
                        and (within_years is None or year - award_year < within_years)):
                    if max_rank is None or (rank is not None and rank <= max_rank):
                        return True
                    rank_unknown = rank_unknown or rank is None
        if awards is None or rank_unknown:
            out.append(self.unmet("award", "unknown", missing=(self.key,), required=self.required))
            return None
        out.append(self.unmet("award", "failed", required=self.required, actual=awards))
        return False


class _Group(_Node):
    __slots__ = ("children", "is_any")

    def __init__(self, code: str, raw: Mapping[str, Any], where: str, children: tuple[_Node, ...]) -> None:
        super().__init__(code, raw, where)
        self.is_any, self.children = raw["kind"] == "any", children

    def emit(self, src: _Source, out: str) -> str:
        members = src.var("m")
        src.line(f"{members} = []")
        truth = _emit_combine(src, self.children, members, self.is_any)
        with src.block(f"if {truth} is not True:"):
            unmet = self.unmet_source(src, "any" if self.is_any else "all",
                                      f"'failed' if {truth} is False else 'unknown'",
                                      missing=f"_missing_of({members})", children=f"tuple({members})")
            src.append(out, unmet)
        return truth


def _emit_combine(src: _Source, nodes: Sequence[_Node], out: str, is_any: bool) -> str:
    """Kleene AND / OR over the nodes that apply in this context; every node is evaluated.

    A node that does not apply is listed in ``not_applicable``; a shortcut that holds in ``direct`` or
    ``waivers``. A group none of whose nodes applies holds.
    """
    result, applicable = src.var("r"), src.var("a")
    pending = not is_any  # an unknown turns a pending True (all) or False (any) into unknown
    src.line(f"{result} = {pending}")
    conditional = any(node.conditional for node in nodes)
    if conditional:
        src.line(f"{applicable} = False")
    outer = src.keep
    if is_any:  # once the group holds, its members' unmet records are not read
        src.keep = f"{result} is not True" if outer is None else f"{outer} and {result} is not True"
    for node in nodes:
        with contextlib.ExitStack() as applies:
            if node.conditional:
                with src.block(f"if not ({node.applies_source(src)}):"):
                    src.line(f"not_applicable.append({src.const(node.code)})")
                applies.enter_context(src.block("else:"))
                src.line(f"{applicable} = True")
            truth = node.emit(src, out)
            with src.block(f"if {truth} is True:"):
                if node.shortcut is not None:
                    src.line(f"{'direct' if node.shortcut == 'direct' else 'waivers'}.append({src.const(node.code)})")
                src.line(f"{result} = True" if is_any else "pass")
            with src.block(f"elif {truth} is False:"):
                src.line("pass" if is_any else f"{result} = False")
            with src.block(f"elif {result} is {pending}:"):
                src.line(f"{result} = None")
    src.keep = outer
    if conditional:
        src.line(f"{result} = {result} if {applicable} else True")
    return result


# --------------------------------------------------------------------------------------------- score


class _Band(NamedTuple):
    points: int
    label_zh: str
    label_en: str
    lower: float | None = None
    lower_inclusive: bool = False
    upper: float | None = None
    upper_inclusive: bool = False
    test: Callable[[Mapping[str, Any]], Truth] | None = None
    test_key: str | None = None
    test_source: Callable[[str, _Source], str] | None = None
    """The test of a known value in generated code (the comparison inline where it can be)."""


def _band(raw: Mapping[str, Any], where: str, spec: IndicatorSpec | None, indicators: _Indicators) -> _Band:
    points = _int(raw, "points", where)
    label_zh, label_en = _str(raw, "label_zh", where), _str(raw, "label_en", where)
    _str(raw, "source", where)
    if spec is None:  # a rule band: the first whose condition holds scores
        if raw.get("otherwise") is True:
            return _Band(points, label_zh, label_en)
        condition = _table(raw, "condition", where)
        spec_of_test = indicators.spec(condition.get("indicator"), where)
        key = spec_of_test.key
        op, threshold = _str(condition, "op", where), condition.get("value")
        compare = _comparator(op, threshold, spec_of_test, where)

        def test(values: Mapping[str, Any]) -> Truth:
            value = values.get(key)
            return None if value is None else compare(value)

        def test_source(value: str, src: _Source) -> str:
            return _comparison_source(op, threshold, value, src)

        return _Band(points, label_zh, label_en, test=test, test_key=key, test_source=test_source)
    if spec.type in ("bool", "enum"):
        if "equals" not in raw:
            raise CriteriaError(f"{where}: a band of a {spec.type} indicator needs `equals`")
        return _Band(points, label_zh, label_en)
    bounds: dict[str, Any] = {}
    for side in ("lower", "upper"):
        if (side in raw) != (f"{side}_inclusive" in raw):
            raise CriteriaError(f"{where}: `{side}` needs `{side}_inclusive` (is the bound included?)")
        if side in raw:
            bounds[side], bounds[f"{side}_inclusive"] = float(raw[side]), bool(raw[f"{side}_inclusive"])
    if not bounds:
        raise CriteriaError(f"{where}: a band of a numeric indicator needs `lower` and/or `upper`")
    return _Band(points, label_zh, label_en, **bounds)


def _check_partition(bands: Sequence[_Band], where: str) -> None:
    """Numeric bands cover the whole axis once: no gap, no overlap, each boundary owned by one band."""
    ordered = sorted(bands, key=lambda band: -math.inf if band.lower is None else band.lower)
    if ordered[0].lower is not None or ordered[-1].upper is not None:
        raise CriteriaError(f"{where}: the lowest band must be open below and the highest open above")
    for below, above in itertools.pairwise(ordered):
        if below.upper is None or above.lower is None or below.upper != above.lower:
            raise CriteriaError(f"{where}: bands {below.label_en!r} and {above.label_en!r} leave a gap "
                                "or overlap")
        if below.upper_inclusive == above.lower_inclusive:
            raise CriteriaError(f"{where}: boundary {below.upper:g} is included in "
                                f"{'both' if below.upper_inclusive else 'neither'} of {below.label_en!r} "
                                f"and {above.label_en!r}")
        if above.upper is not None and above.lower >= above.upper:
            raise CriteriaError(f"{where}: band {above.label_en!r} is empty")


class _Item:
    __slots__ = ("bands", "by_value", "category", "code", "indicator", "label_en", "label_zh",
                 "scores_by_value", "span")

    def __init__(self, raw: Mapping[str, Any], where: str, indicators: _Indicators,
                 categories: Sequence[str]) -> None:
        self.code = _str(raw, "code", where)
        where = f"{where}[{self.code}]"
        self.category = _str(raw, "category", where)
        if self.category not in categories:
            raise CriteriaError(f"{where}: unknown category {self.category!r}")
        self.label_zh, self.label_en = _str(raw, "label_zh", where), _str(raw, "label_en", where)
        _str(raw, "source", where)
        self.indicator: str | None = raw.get("indicator")
        spec = indicators.spec(self.indicator, where) if self.indicator is not None else None
        raw_bands = _list(raw, "bands", where)
        self.bands = tuple(_band(band, f"{where}.bands[{n}]", spec, indicators)
                           for n, band in enumerate(raw_bands))
        points = [band.points for band in self.bands]
        if max(points) != _int(raw, "max_points", where) or min(points) < 0:
            raise CriteriaError(f"{where}: band points must lie in 0..max_points and reach max_points")
        self.span = (min(points), max(points))
        self.by_value: dict[Any, _Band] = {}
        if spec is None:
            if any(band.test is None for band in self.bands[:-1]) or self.bands[-1].test is not None:
                raise CriteriaError(f"{where}: rule bands carry a condition each, the last one `otherwise`")
        elif spec.type in ("bool", "enum"):
            pairs = zip(raw_bands, self.bands, strict=True)
            self.by_value = {raw_band["equals"]: band for raw_band, band in pairs}
            expected = {True, False} if spec.type == "bool" else set(spec.values)
            if set(self.by_value) != expected or len(self.bands) != len(expected):
                raise CriteriaError(f"{where}: `equals` bands must cover each value exactly once")
        else:
            _check_partition(self.bands, where)
        # a code's score is the same record every time: built once
        self.scores_by_value = {value: self._scored(band, value) for value, band in self.by_value.items()}

    def _scored(self, band: _Band, value: Any) -> ItemScore:
        return ItemScore(self.code, self.category, self.label_zh, self.label_en, band.points,
                         (band.points, band.points), band.label_zh, band.label_en, value, ())

    def emit(self, src: _Source, score: str) -> None:
        """Emit the scoring of this item into the local ``score``."""
        if self.indicator is None:
            self._emit_rules(src, score)
            return
        value = src.var("v")
        src.line(f"{value} = {src.value(self.indicator)}")
        unknown = ItemScore(self.code, self.category, self.label_zh, self.label_en, None, self.span, None, None,
                            None, (self.indicator,))
        with src.block(f"if {value} is None:"):
            src.line(f"{score} = {src.const(unknown)}")
        if self.by_value:
            with src.block("else:"):
                src.line(f"{score} = {src.const(self.scores_by_value)}[{value}]")
            return
        # numeric bands partition the axis (checked): the first whose bounds hold is the only one
        fields = [src.const(field) for field in (self.code, self.category, self.label_zh, self.label_en)]
        for band in self.bands:
            bounds = ([f"{src.const(band.lower)} {'<=' if band.lower_inclusive else '<'} {value}"]
                      if band.lower is not None else []) + (
                [f"{value} {'<=' if band.upper_inclusive else '<'} {src.const(band.upper)}"]
                if band.upper is not None else [])
            with src.block(f"elif {' and '.join(bounds)}:"):
                scored = src.record(ItemScore, *fields, str(band.points), src.const((band.points, band.points)),
                                    src.const(band.label_zh), src.const(band.label_en), value, "()")
                src.line(f"{score} = {scored}")
        with src.block("else:"):
            src.line("raise AssertionError('bands are checked to partition the axis')")

    def _emit_rules(self, src: _Source, score: str) -> None:
        """Rule bands: with every tested value known, the first band whose condition holds (its record built once);
        else :meth:`_score_rules`, which works out the range of points an unknown leaves."""
        tested = list(dict.fromkeys(band.test_key for band in self.bands if band.test_key is not None))
        if not tested:  # a lone `otherwise`
            src.line(f"{score} = {src.const(self._scored(self.bands[0], None))}")
            return
        found = {key: src.var("v") for key in tested}
        for key, name in found.items():
            src.line(f"{name} = {src.value(key)}")
        with src.block(f"if {' and '.join(f'{name} is not None' for name in found.values())}:"):
            for n, band in enumerate(self.bands):
                scored = src.const(self._scored(band, None))
                if band.test_source is None:  # the last band, `otherwise` (checked)
                    with src.block("else:"):
                        src.line(f"{score} = {scored}")
                    break
                test = band.test_source(found[str(band.test_key)], src)
                with src.block(f"{'if' if n == 0 else 'elif'} {test}:"):
                    src.line(f"{score} = {scored}")
        with src.block("else:"):
            src.line(f"{score} = {src.const(self._score_rules)}({src.mapping(tested)})")

    def _score_rules(self, values: Mapping[str, Any]) -> ItemScore:
        """First band whose condition holds; an unknown condition before it leaves a range of points."""
        possible: list[_Band] = []
        missing: list[str] = []
        for band in self.bands:
            outcome = True if band.test is None else band.test(values)
            if outcome is None:
                possible.append(band)
                missing.append(str(band.test_key))
            elif outcome:
                possible.append(band)
                break
        if len(possible) == 1:
            band = possible[0]
            return ItemScore(self.code, self.category, self.label_zh, self.label_en, band.points,
                             (band.points, band.points), band.label_zh, band.label_en, None, ())
        points = [band.points for band in possible]
        return ItemScore(self.code, self.category, self.label_zh, self.label_en, None,
                         (min(points), max(points)), None, None, None, tuple(missing))


def _items_scorer(items: Sequence[_Item], label: str) -> Callable[[Mapping[str, Any]], tuple[ItemScore, ...]]:
    """One generated function scoring every item of a score (or of an overlay's block) for a firm."""
    src = _Source("score_items(values)", "get = values.get")
    scores = [src.var("s") for _item in items]
    for item, score in zip(items, scores, strict=True):
        item.emit(src, score)
    src.line(f"return ({''.join(f'{score}, ' for score in scores)})")
    return src.build(label)


class _Category(NamedTuple):
    code: str
    label_zh: str
    label_en: str
    min_points: int
    max_points: int
    members: tuple[int, ...] = ()
    """Positions of its items in the score's item list."""
    unmet_labels: tuple[str, str, str, str] = ("", "", "", "")
    """Code, Chinese and English label, required text of the "category minimum" condition."""

    def scores(self) -> list[list[CategoryScore | None]]:
        """Its :class:`CategoryScore` for every range of points ``[low][high]`` (0 ≤ low ≤ high ≤ max_points, which
        its items' bands allow): a category's score is one of a few hundred records, built once, not per firm."""
        return [[CategoryScore(self.code, self.label_zh, self.label_en, low if low == high else None, (low, high),
                               self.min_points, self.max_points, None) if low <= high else None
                 for high in range(self.max_points + 1)] for low in range(self.max_points + 1)]


_ScoreParts = tuple[tuple[ItemScore, ...], tuple[CategoryScore, ...], int | None]
_NO_SCORE: _ScoreParts = ((), (), None)
"""The score fields of a result whose tier has no score (or whose score did not apply)."""


class _Score(_Node):
    __slots__ = ("categories", "items", "min_total")

    def __init__(self, code: str, raw: Mapping[str, Any], where: str, indicators: _Indicators) -> None:
        super().__init__(code, raw, where)
        self.min_total = _int(raw, "min_total", where)
        categories = []
        for name, cat in _table(raw, "categories", where).items():
            at = f"{where}.categories.{name}"
            _str(cat, "source", at)
            categories.append(_Category(name, _str(cat, "label_zh", at), _str(cat, "label_en", at),
                                        _int(cat, "min_points", at), _int(cat, "max_points", at)))
        names = [category.code for category in categories]
        self.items = tuple(_Item(item, f"{where}.items", indicators, names)
                           for item in _list(raw, "items", where))
        for n, category in enumerate(categories):
            members = tuple(i for i, item in enumerate(self.items) if item.category == category.code)
            most = sum(self.items[i].span[1] for i in members)
            if most != category.max_points or category.min_points > most:
                raise CriteriaError(f"{where}.categories.{category.code}: max_points must equal its items' "
                                    f"maxima ({most}) and min_points must not exceed it")
            least = category.min_points
            labels = (f"{code}.{category.code}", f"{category.label_zh}得分不低于{least}分",
                      f"{category.label_en} points at least {least}", f"≥ {least}")
            categories[n] = category._replace(members=members, unmet_labels=labels)
        self.categories = tuple(categories)
        most = sum(category.max_points for category in self.categories)
        if raw.get("max_total", most) != most or self.min_total > most:
            raise CriteriaError(f"{where}: max_total must equal the categories' max_points ({most})")

    def emit(self, src: _Source, out: str) -> str:
        """Items, categories and total inline; sets the generated function's ``score`` (the result's fields)."""
        scores = [src.var("s") for _item in self.items]
        for item, score in zip(self.items, scores, strict=True):
            item.emit(src, score)
        short_of, short, failed = src.var("short_of"), src.var("short"), src.var("failed")
        src.line(f"{short_of} = []")
        src.line(f"{short} = 0")
        src.line(f"{failed} = False")  # a minimum out of reach even with every unknown item at its best

        def added(terms: Sequence[str], empty: str) -> str:
            return " + ".join(terms) or empty

        categories, lows, highs = [], [], []
        for category in self.categories:
            members = [scores[i] for i in category.members]
            low, high, least = src.var("low"), src.var("high"), category.min_points
            lows.append(low)
            highs.append(high)
            src.line(f"{low} = {added([f'{m}[5][0]' for m in members], '0')}")  # ItemScore.points_range
            src.line(f"{high} = {added([f'{m}[5][1]' for m in members], '0')}")
            categories.append(src.var("c"))
            src.line(f"{categories[-1]} = {src.const(category.scores())}[{low}][{high}]")
            with src.block(f"if {low} < {least}:"):
                src.line(f"{short} += max(0, {least} - {high})")
                src.line(f"{failed} = {failed} or {high} < {least}")
                code, label_zh, label_en, required = (src.const(text) for text in category.unmet_labels)
                missing = added([f"{m}[9]" for m in members], "()")  # ItemScore.missing, in item order
                short_entry = src.record(Unmet, code, "'score_category'",
                                         f"'failed' if {high} < {least} else 'unknown'", label_zh, label_en, missing,
                                         required, f"{low} if {low} == {high} else None", "None", "None", "()")
                src.line(f"{short_of}.append({short_entry})")
        low_total, high_total, total = src.var("low"), src.var("high"), src.var("total")
        src.line(f"{low_total} = {added(lows, '0')}")
        src.line(f"{high_total} = {added(highs, '0')}")
        src.line(f"{total} = {low_total} if {low_total} == {high_total} else None")
        with src.block(f"if {low_total} < {self.min_total}:"):
            src.line(f"{failed} = {failed} or {high_total} < {self.min_total}")
            labels = (f"{self.code}.total", f"总分不低于{self.min_total}分", f"total points at least {self.min_total}")
            code, label_zh, label_en = (src.const(text) for text in labels)
            short_entry = src.record(Unmet, code, "'score_total'",
                                     f"'failed' if {high_total} < {self.min_total} else 'unknown'", label_zh, label_en,
                                     added([f"{s}[9]" for s in scores], "()"), src.const(f"≥ {self.min_total}"), total,
                                     "None", "None", "()")
            src.line(f"{short_of}.append({short_entry})")
        src.line(f"score = (({''.join(f'{s}, ' for s in scores)}), ({''.join(f'{c}, ' for c in categories)}), {total})")
        truth = src.var("t")
        # short of a minimum: failed, or unknown while missing items could still make it up
        with src.block(f"if {short_of}:"):
            points_short = f"max({self.min_total} - {high_total}, {short}) if {failed} else None"
            unmet = self.unmet_source(src, "score", f"'failed' if {failed} else 'unknown'",
                                      missing=f"_missing_of({short_of})", required=src.const(f"≥ {self.min_total}"),
                                      actual=total, points_short=points_short, children=f"tuple({short_of})")
            src.append(out, unmet)
            src.line(f"{truth} = False if {failed} else None")
        with src.block("else:"):
            src.line(f"{truth} = True")
        return truth


# ------------------------------------------------------------------------------------------- compile


class TierCriteria:
    """The compiled criteria of one tier of one rulebook; evaluate as many firms as you like with it."""

    def __init__(self, section: Mapping[str, Any], tier: str, *, rulebook_id: str, content_hash: str,
                 indicators: _Indicators | None = None) -> None:
        tiers = _table(section, "tiers", "eligibility")
        if tier not in tiers:
            known = ", ".join(tiers)
            raise InvalidInput(f"规则库 {rulebook_id} 没有梯度 {tier!r} 的认定条件（可选：{known}）— "
                               f"rulebook {rulebook_id} has no criteria for tier {tier!r}; known: {known}",
                               field="tier")
        self.tier, self.rulebook_id, self.content_hash = tier, rulebook_id, content_hash
        self.indicators = indicators or _Indicators(section)
        self._section = section
        self._local: dict[str, _Local | None] = {}
        raw_tier = tiers[tier]
        self.label_zh = _str(raw_tier, "label_zh", f"tiers.{tier}")
        self.label_en = _str(raw_tier, "label_en", f"tiers.{tier}")
        self._own: Mapping[str, Any] = raw_tier.get("conditions", {})
        self._shared: Mapping[str, Any] = section.get("shared", {}).get("conditions", {})
        if set(self._own) & set(self._shared):
            raise CriteriaError(f"tiers.{tier}: {sorted(set(self._own) & set(self._shared))} shadow shared "
                                "conditions")
        self._nodes: dict[str, _Node] = {}
        self._building: list[str] = []
        self.roots = tuple(self._node(code, f"tiers.{tier}.require")
                           for code in _list(raw_tier, "require", f"tiers.{tier}"))
        if set(self._own) - set(self._nodes):
            raise CriteriaError(f"tiers.{tier}: {sorted(set(self._own) - set(self._nodes))} never required")
        if sum(isinstance(node, _Score) for node in self._nodes.values()) > 1:
            raise CriteriaError(f"tiers.{tier}: at most one score per tier")
        self._judge = self._compile()
        self._whole: tuple[dict[_Indicators, Callable[..., EligibilityResult]], ...] = ({}, {})
        """The generated functions of :meth:`_compiled_whole`, by ``stored`` (False, True) and indicator table."""

    def _compile(self) -> Callable[..., tuple[Truth, _ScoreParts]]:
        """The tier's condition tree as one generated function (see the nodes section)."""
        src = _Source("judge(values, year, re_review, flags, unmet, not_applicable, direct, waivers)",
                      "get = values.get", "score = _NO_SCORE")
        src.names["_NO_SCORE"] = _NO_SCORE
        passed = _emit_combine(src, self.roots, "unmet", is_any=False)
        src.line(f"return {passed}, score")
        return src.build(f"{self.rulebook_id} {self.tier}")

    def _compiled_whole(self, indicators: _Indicators, stored: bool) -> Callable[..., EligibilityResult]:
        """Validation, derivation, the condition tree and the result as one generated function over locals.

        The common case of :meth:`evaluate` (no overlay category to score) without the dict of clean values
        :meth:`_Indicators.prepare_fast` builds: every indicator is read once, into a local. It raises on any
        value it does not take plainly; :meth:`evaluate` then takes the mapping path, which converts or refuses.
        Compiled once per indicator table (the rulebook's, or one widened by a region's overlays) and reading of the
        values (``stored``: see :meth:`_Indicators.emit_locals`).
        """
        whole = self._whole[stored].get(indicators)
        if whole is None:
            src = _Source(f"whole(values, year, re_review, {', '.join(CONTEXT_FLAGS)}, held)", "get = values.get")
            # the context as check_context() takes it, else the mapping path refuses it
            low, high = indicators.year_range
            plain = [f"type(year) is int and {src.const(low)} <= year <= {src.const(high)}",
                     "(re_review is True or re_review is False)",
                     *(f"({flag} is None or {flag} is True or {flag} is False)" for flag in CONTEXT_FLAGS)]
            with src.block(f"if not ({' and '.join(plain)}):"):
                src.line(f"raise {src.const(_Inconsistent)}")
            indicators.emit_locals(src, stored)
            # the lists only this tree's nodes can add to (a conditional node, a direct condition, a waiver)
            nodes = self._nodes.values()
            lists = {"not_applicable": any(node.conditional for node in nodes),
                     "direct": any(node.shortcut == "direct" for node in nodes),
                     "waivers": any(node.shortcut == "waiver" for node in nodes)}
            for name in ("unmet", *(name for name, used in lists.items() if used)):
                src.line(f"{name} = []")
            src.line(f"score = {src.const(_NO_SCORE)}")
            passed = _emit_combine(src, self.roots, "unmet", is_any=False)
            src.line("items, categories, total = score")
            fields = (src.const(self.tier), src.const(self.rulebook_id), src.const(self.content_hash), "year",
                      "re_review", passed, "total", "categories", "items", "tuple(unmet) if unmet else ()",
                      "_missing_of(unmet) if unmet else ()",
                      "direct[0] if direct else None" if lists["direct"] else "None",
                      "tuple(waivers)" if lists["waivers"] else "()",
                      "tuple(not_applicable)" if lists["not_applicable"] else "()",
                      f"{src.const(_NO_GAP)} if {passed} is True else {src.const(_gap)}(unmet)", "()")
            src.line(f"return {src.const(_new_result)}({', '.join(fields)})")
            whole = self._whole[stored][indicators] = src.build(f"{self.rulebook_id} {self.tier}, whole")
        return whole

    def _node(self, code: Any, referrer: str) -> _Node:
        if code in self._nodes:
            return self._nodes[code]
        raw = self._own.get(code, self._shared.get(code))
        if raw is None:
            raise CriteriaError(f"{referrer}: unknown condition {code!r}")
        if code in self._building:
            raise CriteriaError(f"{referrer}: condition {code!r} contains itself")
        where = f"tiers.{self.tier}.conditions.{code}" if code in self._own else f"shared.conditions.{code}"
        kind = _str(raw, "kind", where)
        self._building.append(code)
        node: _Node
        if kind == "check":
            node = _Check(code, raw, where, self.indicators)
        elif kind == "flag":
            node = _Flag(code, raw, where)
        elif kind == "award":
            node = _AwardCheck(code, raw, where, self.indicators)
        elif kind in ("all", "any"):
            members = tuple(self._node(child, where) for child in _list(raw, "of", where))
            node = _Group(code, raw, where, members)
        elif kind == "score":
            node = _Score(code, raw, where, self.indicators)
        else:
            raise CriteriaError(f"{where}: unknown kind {kind!r}")
        self._building.pop()
        self._nodes[code] = node
        return node

    def local(self, region_code: str | None) -> _Local | None:
        """The overlays on this tier for a firm's region, compiled once per region code; None: none apply."""
        if not region_code:
            return None
        if region_code not in self._local:
            overlays = overlays_for(self.rulebook_id, region_code)
            self._local[region_code] = _Local(self, overlays) if overlays else None
        return self._local[region_code]

    def evaluate(self, values: Mapping[str, Any], *, year: int, re_review: bool = False,
                 holds_innovative: bool | None = None, holds_provincial: bool | None = None,
                 region_code: str | None = None, side_titles: Collection[str] = (),
                 stored: bool = False) -> EligibilityResult:
        """Judge one firm-year (see the module function :func:`evaluate`).

        ``stored``: ``values`` is a JSON document just as decoded from a JSON column read as text; it is judged as
        the column's type would give it back (:func:`~pipeline.json_numbers.stored_value`), without that copy.
        """
        local = self.local(region_code) if region_code else None
        indicators = self.indicators if local is None else local.indicators
        if (local is None or local.category is None) and type(values) is dict:
            try:  # the common case: one generated function checks the context and the keys too (side titles: a set)
                held = frozenset(f"{SIDE_TITLE_FLAG}{kind}" for kind in side_titles) if side_titles else _NOTHING_HELD
                # the compiled function looked up here rather than through a method call: this wrapper runs for
                # every firm of a list
                whole = self._whole[stored].get(indicators) or self._compiled_whole(indicators, stored)
                return whole(values, year, re_review, holds_innovative, holds_provincial, held)
            except Exception:  # noqa: S110 — what it does not take plainly: the mapping path below does it or raises
                pass
        if stored:
            values = stored_value(values)
        flags: dict[str, Truth] = {"holds_innovative": holds_innovative, "holds_provincial": holds_provincial}
        indicators.check_context(year, re_review, flags)
        if side_titles:
            flags.update((f"{SIDE_TITLE_FLAG}{kind}", True) for kind in side_titles)
        clean = indicators.prepare_fast(values)
        unmet: list[Unmet] = []
        not_applicable: list[str] = []
        direct: list[str] = []
        waivers: list[str] = []
        passed, (items, categories, total) = self._judge(clean, year, re_review, flags, unmet, not_applicable,
                                                         direct, waivers)
        refs: tuple[OverlayRef, ...] = ()
        if local is not None and local.category is not None:
            extra_items, extra_category = local.score(clean)
            items, categories, refs = items + extra_items, (*categories, extra_category), local.refs
        return _new_result(  # positionally, in the order of its fields (see slot_constructor)
            self.tier, self.rulebook_id, self.content_hash, year, re_review, passed, total, categories, items,
            tuple(unmet), _missing_of(unmet), direct[0] if direct else None, tuple(waivers), tuple(not_applicable),
            _NO_GAP if passed is True else _gap(unmet), refs,
        )


def slot_constructor(cls: type[Any]) -> Callable[..., Any]:
    """A constructor of a frozen, slotted dataclass taking every field positionally: the instance equals (and hashes
    like) what ``cls(*fields)`` builds, in a sixth of the time (16 fields: 0.18 µs, not 1.07 µs).

    The generated ``__init__`` of a frozen dataclass goes through ``object.__setattr__`` once per field, its own
    ``__setattr__`` refusing; a slot's descriptor called per field is still a call each. Here the fields are stored,
    as plain attribute stores, into an instance of a mutable draft of ``cls`` — the same bases and slots, so the same
    memory layout — which then becomes a ``cls`` by ``__class__`` assignment, as CPython allows between
    layout-compatible classes (checked here, once)."""
    names = [f.name for f in dataclasses.fields(cls)]
    assert all(f.init and f.name in cls.__slots__ for f in dataclasses.fields(cls)), cls
    assert not hasattr(cls, "__post_init__"), cls
    draft = type(f"{cls.__name__}Draft", cls.__bases__, {"__slots__": cls.__slots__, "__module__": cls.__module__})
    src = _Source(f"new({', '.join(names)})", "instance = _object_new(_draft)")
    src.names.update(_object_new=object.__new__, _draft=draft, _cls=cls)
    for name in names:
        src.line(f"instance.{name} = {name}")
    src.line("instance.__class__ = _cls")
    src.line("return instance")
    new = src.build(f"{cls.__name__} constructor")
    sample = new(*range(len(names)))  # raises here, at import, should a base refuse the stores or the layouts differ
    assert type(sample) is cls, cls
    assert [getattr(sample, name) for name in names] == list(range(len(names))), cls
    return new

_NO_GAP = Gap()
"""The gap of a firm that passes (immutable: one for all)."""
_NOTHING_HELD: frozenset[str] = frozenset()
"""The side-title flags of a firm that holds none."""

CHARACTERISTIC = "characteristic"
"""The category an overlay's 特色化 block scores into, and the block's name in the overlay file."""


_MERGED: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Indicators] = {}


def _merged_indicators(rulebook_id: str, content_hash: str, section: Mapping[str, Any],
                       overlays: Sequence[Overlay]) -> _Indicators:
    """The rulebook's indicator table plus the indicators of every overlay's blocks (cached)."""
    key = (rulebook_id, content_hash, tuple((overlay.id, overlay.content_hash) for overlay in overlays))
    if key not in _MERGED:
        merged = dict(_table(section, "indicators", "eligibility"))
        for overlay in overlays:
            for tier, blocks in overlay.tiers.items():
                for name, block in blocks.items():
                    where = f"overlay {overlay.id}: tiers.{tier}.{name}"
                    for ind_key, raw in block.get("indicators", {}).items():
                        _str(raw, "source", f"{where}.indicators.{ind_key}")
                        if ind_key in merged:
                            raise CriteriaError(f"{where}: indicator {ind_key!r} is already defined")
                        merged[ind_key] = raw
        _MERGED[key] = _Indicators({**section, "indicators": merged})
    return _MERGED[key]


class _Local:
    """A tier's criteria in one region: the widened indicator table and the overlay's 特色化 items."""

    def __init__(self, criteria: TierCriteria, overlays: Sequence[Overlay]) -> None:
        self.indicators = _merged_indicators(criteria.rulebook_id, criteria.content_hash, criteria._section,
                                             overlays)
        scoring = [overlay for overlay in overlays if CHARACTERISTIC in overlay.tiers.get(criteria.tier, {})]
        self.category: CategoryScore | None = None
        self.items: tuple[_Item, ...] = ()
        self.score_items: Callable[[Mapping[str, Any]], tuple[ItemScore, ...]] = _items_scorer((), "no items")
        self.refs: tuple[OverlayRef, ...] = ()
        if not scoring:
            return
        overlay = scoring[-1]  # the most specific region wins (a city's block over its province's)
        where = f"overlay {overlay.id}: tiers.{criteria.tier}.{CHARACTERISTIC}"
        block = overlay.tiers[criteria.tier][CHARACTERISTIC]
        _str(block, "source", where)
        cap = _int(block, "max_points", where)
        self.items = tuple(_Item({**raw, "category": CHARACTERISTIC}, f"{where}.items", self.indicators,
                                 (CHARACTERISTIC,))
                           for raw in _list(block, "items", where))
        self.score_items = _items_scorer(self.items, f"{where}.items")
        most = sum(item.span[1] for item in self.items)
        if most > cap:
            raise CriteriaError(f"{where}: items reach {most} points, more than max_points {cap}")
        self.category = CategoryScore(CHARACTERISTIC, _str(block, "label_zh", where), _str(block, "label_en", where),
                                      None, (0, most), 0, most, overlay.id)
        self.refs = (OverlayRef(overlay.id, overlay.content_hash, overlay.region),)

    def score(self, values: Mapping[str, Any]) -> tuple[tuple[ItemScore, ...], CategoryScore]:
        assert self.category is not None
        scored = self.score_items(values)
        low, high = _points_range(scored)
        return scored, self.category._replace(points=low if low == high else None, points_range=(low, high))


def compile_criteria(section: Mapping[str, Any], tier: str, *, rulebook_id: str = "(unnamed)",
                     content_hash: str = "") -> TierCriteria:
    """Compile one tier of an ``eligibility`` section, checking the data. Not cached."""
    return TierCriteria(section, tier, rulebook_id=rulebook_id, content_hash=content_hash)


_INDICATORS: dict[tuple[str, str], _Indicators] = {}
_CRITERIA: dict[tuple[str, str, str], TierCriteria] = {}


def _indicators_for(rulebook: Rulebook) -> _Indicators:
    key = (rulebook.id, rulebook.content_hash)
    if key not in _INDICATORS:
        section = rulebook.sections.get("eligibility")
        if section is None:
            raise NotFound(f"规则库 {rulebook.id} 没有资格条件（eligibility.toml）— "
                           f"rulebook {rulebook.id} has no eligibility criteria (eligibility.toml)")
        _INDICATORS[key] = _Indicators(section)
    return _INDICATORS[key]


def criteria_for(rulebook: Rulebook, tier: str) -> TierCriteria:
    """The compiled criteria of a tier, built once per (rulebook id, content hash, tier)."""
    key = (rulebook.id, rulebook.content_hash, tier)
    criteria = _CRITERIA.get(key)
    if criteria is None:
        indicators = _indicators_for(rulebook)
        criteria = TierCriteria(rulebook.sections["eligibility"], tier, rulebook_id=rulebook.id,
                                content_hash=rulebook.content_hash, indicators=indicators)
        _CRITERIA[key] = criteria
    return criteria


def evaluate(rulebook: Rulebook, tier: str, values: Mapping[str, Any], *, year: int, re_review: bool = False,
             holds_innovative: bool | None = None, holds_provincial: bool | None = None,
             region_code: str | None = None, side_titles: Collection[str] = ()) -> EligibilityResult:
    """Judge one firm-year against a tier's criteria.

    ``values`` maps indicator keys (:func:`indicator_catalogue`) to values; ratios are decimals. ``year`` is
    the assessment year (it dates award look-backs and year-bound rules), ``re_review`` says whether this
    is a 复核, and the ``holds_*`` flags whether the firm holds the lower title (None: unknown).
    ``region_code`` (the firm's GB/T 2260 code) brings in the local overlays covering it (module docstring).
    ``side_titles`` are the kinds of side title the firm validly holds (``holds_side_title:<kind>`` flags).
    Raises :class:`~pipeline.errors.InvalidInput` for a value out of range.
    """
    return criteria_for(rulebook, tier).evaluate(values, year=year, re_review=re_review,
                                                 holds_innovative=holds_innovative,
                                                 holds_provincial=holds_provincial, region_code=region_code,
                                                 side_titles=side_titles)


def _indicators_in(rulebook: Rulebook | None, region_code: str | None) -> _Indicators:
    book = rulebook or all_rulebooks()[-1]
    national = _indicators_for(book)
    overlays = overlays_for(book, region_code)
    if not overlays:
        return national
    return _merged_indicators(book.id, book.content_hash, book.sections["eligibility"], overlays)


def indicator_catalogue(rulebook: Rulebook | None = None, *,
                        region_code: str | None = None) -> Mapping[str, IndicatorSpec]:
    """Every indicator a firm-year may carry: type, unit, valid range (newest rulebook by default).

    With ``region_code``, the indicators of the local overlays covering that region are included.
    """
    return dict(_indicators_in(rulebook, region_code).specs)


def validate_indicators(values: Mapping[str, Any], rulebook: Rulebook | None = None, *,
                        region_code: str | None = None) -> dict[str, Any]:
    """Check a firm-year's indicators; return them normalised, with derived ratios filled in.

    Ratios are decimals within the bounds the rulebook states (shares 0–1: 5% is 0.05), amounts ≥ 0,
    counts whole, years within range; ``None`` values are dropped (unknown). A firm's ``region_code`` also
    admits the indicators of the local overlays covering it. Raises :class:`~pipeline.errors.InvalidInput`
    naming the field, in Chinese and English.
    """
    return _indicators_in(rulebook, region_code).prepare(values)


# ------------------------------------------------------------------------------------------- helpers


_Cost = tuple[tuple[str, ...], int, tuple[str, ...]]
"""(failed conditions, points short, unknown conditions): a :class:`Gap` in the making."""


def _gap(unmet: Sequence[Unmet]) -> Gap:
    return _new_gap(*_total_cost(unmet))


_COMPOSITE = frozenset({"all", "any", "score"})
"""Kinds whose cost is not that of one plain condition: the others cost their code, failed or unknown."""


# Unmet's fields by position, for the functions below that read every unmet record of 100,000 firms: a NamedTuple's
# field by name is a descriptor call, by position a plain tuple index, several times cheaper.
_CODE: Final = 0
_KIND: Final = 1
_STATUS: Final = 2
_MISSING: Final = 5
_SHORTCUT: Final = 8
_POINTS_SHORT: Final = 9
_CHILDREN: Final = 10
assert [Unmet._fields[n] for n in (_CODE, _KIND, _STATUS, _MISSING, _SHORTCUT, _POINTS_SHORT, _CHILDREN)] == [
    "code", "kind", "status", "missing", "shortcut", "points_short", "children"]


def _total_cost(entries: Sequence[Unmet]) -> _Cost:
    if len(entries) == 1:
        return _cost(entries[0])
    conditions: tuple[str, ...] = ()
    points = 0
    unknown: tuple[str, ...] = ()
    for entry in entries:  # the plain conditions inline: most of a tree (thousands of firms, each a few dozen)
        if entry[_KIND] in _COMPOSITE:
            more_conditions, more_points, more_unknown = _cost(entry)
            conditions += more_conditions
            points += more_points
            unknown += more_unknown
        elif entry[_STATUS] == "failed":
            conditions += (entry[_CODE],)
        else:
            unknown += (entry[_CODE],)
    return conditions, points, unknown


def _cost(entry: Unmet) -> _Cost:
    """What satisfying one unmet condition takes: members add up (all), the cheapest route wins (any)."""
    kind = entry[_KIND]
    if kind == "all":
        return _total_cost(entry[_CHILDREN])
    children = entry[_CHILDREN]
    if kind == "any" and children:
        routes = [child for child in children if child[_SHORTCUT] is None] or children
        cheapest = _cost(routes[0])  # the first of the cheapest routes, as min() by rank picks it
        least = len(cheapest[0]), cheapest[1], len(cheapest[2])  # rank: failed conditions, points, unknowns
        for child in routes[1:]:
            cost = _cost(child)
            rank = len(cost[0]), cost[1], len(cost[2])
            if rank < least:
                cheapest, least = cost, rank
        return cheapest
    if kind == "score":
        return (), entry[_POINTS_SHORT] or 0, (entry[_CODE],) if entry[_STATUS] == "unknown" else ()
    return ((entry[_CODE],), 0, ()) if entry[_STATUS] == "failed" else ((), 0, (entry[_CODE],))


def _points_range(scores: Sequence[ItemScore | CategoryScore]) -> tuple[int, int]:
    """The fewest and most points a set of items (or categories) can add up to."""
    return sum(score.points_range[0] for score in scores), sum(score.points_range[1] for score in scores)


def _missing_of(entries: Sequence[Unmet]) -> tuple[str, ...]:
    missing: tuple[str, ...] = ()
    for entry in entries:
        if entry[_MISSING]:  # most entries miss nothing
            missing += entry[_MISSING]
    return tuple(dict.fromkeys(missing)) if missing else ()


def _aggregator(name: str, decimals: int, where: str) -> Callable[[list[Any]], float]:
    def total(values: list[Any]) -> float:
        return round(math.fsum(values), decimals)

    def mean(values: list[Any]) -> float:
        return round(math.fsum(values) / len(values), decimals)

    def compound(rates: list[Any]) -> float:
        growth = math.prod(1.0 + float(rate) for rate in rates)
        return round(float(growth ** (1 / len(rates))) - 1, decimals)

    aggregators = {"sum": total, "mean": mean, "cagr": compound}
    if name not in aggregators:
        raise CriteriaError(f"{where}: aggregate must be one of {', '.join(aggregators)}")
    return aggregators[name]


def _comparator(op: str, threshold: Any, spec: IndicatorSpec, where: str) -> Callable[[Any], bool]:
    if op in _NUMERIC_OPS:
        if spec.type not in ("number", "integer") or type(threshold) not in (int, float):
            raise CriteriaError(f"{where}: {op} compares a numeric indicator with a number")
        # threshold on the left: value ≥ threshold is threshold ≤ value (C-level partials: fast per firm)
        mirrored = {"ge": operator.le, "gt": operator.lt, "le": operator.ge, "lt": operator.gt}[op]
        return functools.partial(mirrored, threshold)
    if op == "eq":
        fits = isinstance(threshold, bool) if spec.type == "bool" else (
            threshold in spec.values if spec.type == "enum" else type(threshold) in (int, float))
        if not fits or spec.type in ("set", "awards"):
            raise CriteriaError(f"{where}: eq value {threshold!r} does not fit indicator {spec.key!r}")
        return functools.partial(operator.eq, threshold)
    if op in ("in", "contains_any", "contains_all"):
        wanted = frozenset(threshold or ())
        expected = "enum" if op == "in" else "set"
        if spec.type != expected or not wanted or not wanted <= spec.values.keys():
            raise CriteriaError(f"{where}: {op} needs a {expected} indicator and codes from its values")
        if op == "in":
            return wanted.__contains__
        return (lambda value: not wanted.isdisjoint(value)) if op == "contains_any" else wanted.issubset
    raise CriteriaError(f"{where}: unknown op {op!r}")


_INLINE_OPS = {"ge": "<=", "gt": "<", "le": ">=", "lt": ">", "eq": "=="}
"""A comparison as :func:`_comparator` makes it, threshold on the left (``value ≥ 5`` is ``5 <= value``)."""


def _comparison_source(op: str, threshold: Any, value: str, src: _Source) -> str:
    """The test of a checked comparison in generated code: the very operator inline, else the comparator."""
    if op in _INLINE_OPS:
        return f"{src.const(threshold)} {_INLINE_OPS[op]} {value}"
    wanted = src.const(frozenset(threshold))  # the codes, as the comparator holds them (checked there)
    if op == "in":
        return f"{value} in {wanted}"
    return f"not {wanted}.isdisjoint({value})" if op == "contains_any" else f"{wanted}.issubset({value})"


def _show(threshold: Any, spec: IndicatorSpec) -> str:
    if isinstance(threshold, list):
        return "{" + ", ".join(threshold) + "}"
    if isinstance(threshold, bool):
        return str(threshold).lower()
    if spec.unit == "ratio":
        return f"{threshold:g} ({threshold * 100:g}%)"
    if spec.unit == "CNY":
        return f"¥{threshold:,.0f}"
    return f"{threshold:g}"


def _context_filter(raw: Any, where: str) -> _ContextFilter | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw or set(raw) - {"re_review", "from_year", "until_year"}:
        raise CriteriaError(f"{where}: a context filter takes re_review, from_year, until_year")
    return raw.get("re_review"), raw.get("from_year"), raw.get("until_year")


def _table(raw: Any, key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if not isinstance(value, Mapping):
        raise CriteriaError(f"{where}: `{key}` must be a table")
    return value


def _list(raw: Any, key: str, where: str) -> list[Any]:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if not isinstance(value, list) or not value:
        raise CriteriaError(f"{where}: `{key}` must be a non-empty list")
    return value


def _str(raw: Any, key: str, where: str) -> str:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if not isinstance(value, str) or not value:
        raise CriteriaError(f"{where}: `{key}` is required (text)")
    return value


def _int(raw: Any, key: str, where: str) -> int:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if type(value) is not int:
        raise CriteriaError(f"{where}: `{key}` must be a whole number")
    return value


# Built here, at the end: the generator refers to helpers defined above.
_new_result: Callable[..., EligibilityResult] = slot_constructor(EligibilityResult)
_new_gap: Callable[..., Gap] = slot_constructor(Gap)
