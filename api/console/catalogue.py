"""The console's message catalogue: every code the domain and the API speak, as the Chinese an official reads.

The API keeps its codes and its bilingual "中文 — English" messages; the console shows Chinese only. Labels
come from the rulebooks first (states, reason codes, side-title kinds, change kinds, indicators'
``label_zh``), then from the tables below. :func:`zh` turns a domain message into its Chinese part with any
code in it replaced by its label; :func:`problem_title` gives a problem type's Chinese title.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pipeline.dynamic.obligations import change_kinds
from pipeline.firms.service import DEFAULT_ENROLL_REASON
from pipeline.lifecycle import machine
from pipeline.rulebooks import Rulebook, all_rulebooks

TRIGGERS = {
    "enroll": "纳入培育库", "renew": "复核通过（续期）", "demote": "降级", "expire": "到期失效", "revoke": "撤销",
    "remove": "移出", "correct": "更正", "amend": "信息变更", "flag": "标记", "record_loan": "登记贷款",
    "grant_side_title": "授予并列称号", "end_side_title": "终止并列称号", "backfill": "历史称号补录",
    "audit_events": "审计查询", "record_filing": "年度数据报送", "report_change": "重大变化报告",
}
KINDS = {"transition": "状态变更", "amendment": "信息变更", "correction": "更正", "side_title": "并列称号"}
ROLES = {"official": "工信部门", "auditor": "审计", "integrator": "接入系统", "admin": "系统管理员",
         "finance": "财政部门", "system": "系统"}
LEVELS = {"district": "区县", "city": "市级", "province": "省级"}
END_REASONS = {"renewed": "复核续期", "expired": "到期失效", "demoted": "降级", "superseded": "被更高称号取代",
               "revoked": "撤销", "removed": "移出", "voided": "已更正作废"}
FIELDS = {
    "name": "企业名称", "region_code": "区划代码", "data": "企业资料", "document_no": "文号", "batch": "批次",
    "valid_until": "有效期至", "tier": "称号", "ended_titles": "终止的称号", "barred_until": "禁入至",
    "bar_served_until": "禁入期满", "changes": "变更内容", "voids_seq": "作废事件", "user": "经办人",
    "kind": "类别", "granted_on": "授予日期", "year": "年度", "uscc": "统一社会信用代码", "effective_date": "生效日期",
    "reason_code": "原因", "reason": "理由", "file": "文件", "format": "格式", "region": "区划", "state": "状态",
    "q": "查询词", "restored": "恢复的内容", "issuer_level": "发证层级", "product": "产品",
    "expiring_before": "到期早于", "file_name": "文件名", "import_id": "导入批次",
    "indicators": "指标数据", "annual_filing": "年度数据报送", "filed_on": "报送日期", "deadline": "报送截止日",
    "on_time": "按时报送",
}
PROBLEM_TITLES = {
    "validation-error": "请求参数有误", "not-found": "未找到", "method-not-allowed": "不支持的请求方法",
    "not-acceptable": "不支持的格式", "unauthorized": "未登录", "forbidden": "无权操作", "already-exists": "已存在",
    "illegal-transition": "当前状态不允许该操作", "guard-failed": "不满足操作条件", "conflict": "并发修改冲突",
    "version-mismatch": "企业信息已被他人修改", "import-rejected": "导入未通过校验", "batch-refused": "批量操作未执行",
    "invalid-uscc": "统一社会信用代码无效", "invalid-region": "行政区划代码无效", "file-too-large": "文件超出限制",
    "invalid-file": "文件结构无效", "anchor-key-missing": "未配置锚点签名密钥", "internal-error": "内部错误",
    "payload-too-large": "请求体过大", "quota-exceeded": "推荐名额已用完",
}
FLAGS = {"annual_data_overdue": "年度数据逾期未报", "late_change_report": "重大变化逾期报告"}
WORDS = {"true": "是", "false": "否", "null": "无", "none": "无", "nobody": "无人", "nothing": "无"}

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[:.\-][A-Za-z0-9_]+)*")
_ASCII_ASIDE = re.compile(r"\s*[(（][\x20-\x7e]*[A-Za-z]{3,}[\x20-\x7e]*[)）]")


def _labelled(tree: Any) -> Iterator[tuple[str, str]]:
    """Every ``key = {label_zh = …}`` in a rulebook section, at any depth."""
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            if isinstance(value, Mapping):
                if isinstance(value.get("label_zh"), str):
                    yield str(key), str(value["label_zh"])
                yield from _labelled(value)
            elif isinstance(value, list):
                for item in value:
                    yield from _labelled(item)


@functools.cache
def codes() -> dict[str, str]:
    """Code → Chinese label, from every rulebook (the newest wins) and the tables above."""
    table: dict[str, str] = {**WORDS, **FLAGS, **END_REASONS, **LEVELS, **ROLES, **KINDS, **FIELDS}
    for book in all_rulebooks():
        table.update(_labelled(book.sections))
        table.update(book.state_labels)
        for reasons in book.reason_codes.values():
            table.update(reasons)
        table.update({kind: spec.label for kind, spec in book.side_titles.items()})
        table.update(change_kinds(book))
        table[book.id] = f"《{book.title}》（{book.document}）"
    for trigger, tier in machine.RECOGNITION_TIER.items():
        table[trigger] = f"认定为{all_rulebooks()[-1].label(tier)}"
    table.update(TRIGGERS)
    return table


def rulebook_name(rulebook_id: str) -> str:
    return codes().get(rulebook_id, rulebook_id)


def trigger_label(book: Rulebook, trigger: str | None) -> str:
    if trigger is None:
        return "信息变更"
    if trigger in machine.RECOGNITION_TIER:
        return f"认定为{book.label(machine.RECOGNITION_TIER[trigger])}"
    return TRIGGERS.get(trigger, codes().get(trigger, trigger))


def _token(match: re.Match[str]) -> str:
    word = match.group(0)
    table = codes()
    if word in table:
        return table[word]
    if ":" in word:  # "official:district", "revoked:false_information"
        parts = word.split(":")
        if all(p in table for p in parts):
            return "（".join(table[p] for p in parts) + "）" * (len(parts) - 1)
    if word.startswith("recognize_") or word.startswith("permissions."):
        tail = word.split(".", 1)[-1]
        return table.get(tail, word)
    return word


def zh(message: str | None) -> str:
    """The Chinese an official reads: the part before " — ", ASCII asides dropped, codes as their labels."""
    if not message:
        return ""
    text = str(message).split(" — ", 1)[0]
    text = _ASCII_ASIDE.sub("", text)
    return _CODE.sub(_token, text).strip()


def plain(text: str | None) -> str:
    """Free text as recorded (a reason): what officials typed stays as typed; a system-written reason loses its
    English half (after " — ", or the default enrolment reason's aside)."""
    if not text:
        return ""
    if text == DEFAULT_ENROLL_REASON:
        return _ASCII_ASIDE.sub("", text).strip()
    return str(text).split(" — ", 1)[0].strip()


def problem_title(slug: str) -> str:
    return PROBLEM_TITLES.get(slug, "请求未完成")


def field_label(name: str) -> str:
    return codes().get(name, name)


def value_text(book: Rulebook, value: Any) -> str:
    """A stored value as text: codes as labels, lists joined with 、, booleans as 是/否, nothing as —."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(value_text(book, v) for v in value)
    if isinstance(value, Mapping) and set(value) == {"from", "to"}:  # one field's change, as amendments show it
        return f"{value_text(book, value['from'])} → {value_text(book, value['to'])}"
    if isinstance(value, Mapping):
        return "；".join(f"{field_label(str(k))}：{value_text(book, v)}" for k, v in value.items())
    if isinstance(value, str):
        return book.label(value) if value in book.state_labels else codes().get(value, value)
    return str(value)
