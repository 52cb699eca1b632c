"""The 通报 workbook: :func:`pipeline.targets.reports.progress_report` as .xlsx (Chinese headers, one sheet per
tier ranked by its ``new`` completion with a 合计 row and a native bar chart of completion per child region, and
a sheet of quotas and application figures), or as one CSV table. Numbers are the JSON's own."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import IO, Any, Final

from pipeline.spreadsheet import csv_safe

KIND_LABELS: Final = {"new": "新增", "total": "总量", "growth": "增长"}
MEASURE_LABELS: Final = (("target", "目标"), ("actual", "实际"), ("completion", "完成率"), ("remaining", "尚差"))
TIER_LABELS: Final = {"innovative": "创新型", "provincial": "省级", "national": "小巨人"}
QUOTA_SHEET: Final = "名额与申报"
QUOTA_HEADERS: Final = (("region_code", "区划代码"), ("region_name", "地区"), ("tier", "梯度"),
                        ("base", "基础名额"), ("completion", "完成率"), ("bonus", "奖励名额"), ("quota", "推荐名额"),
                        ("applied", "申报数"), ("recommended", "推荐数"), ("approved", "认定数"),
                        ("conversion_rate", "转化率"))
PERCENT: Final = "0.0%"


def tier_sheet_headers(kinds: list[str]) -> list[str]:
    return ["排名", "区划代码", "地区"] + [f"{KIND_LABELS[k]}{label}" for k in kinds for _, label in MEASURE_LABELS]


def _sheet_title(label: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", "", label)[:28] or "目标"
    base, n = title, 2
    while title in used:
        title, n = f"{base}{n}", n + 1
    used.add(title)
    return title


def _measures(row: Mapping[str, Any], kinds: list[str]) -> list[Any]:
    return [row["measures"].get(k, {}).get(field) for k in kinds for field, _ in MEASURE_LABELS]


def write_xlsx(report: Mapping[str, Any], out: IO[bytes]) -> None:
    # here, not at the top (as in pipeline.imports.exports): only a workbook needs openpyxl, and importing it
    # cost every `pipeline` start 0.1 s
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.chart import BarChart, Reference  # type: ignore[import-untyped]

    book = Workbook()
    book.remove(book.active)
    used: set[str] = {QUOTA_SHEET}
    for sheet_data in report["sheets"]:
        kinds: list[str] = sheet_data["kinds"]
        sheet = book.create_sheet(_sheet_title(sheet_data["label"], used))
        sheet.append(tier_sheet_headers(kinds))
        for row in sheet_data["rows"]:
            sheet.append([row["rank"], row["region_code"], row["region_name"], *_measures(row, kinds)])
        total = sheet_data["total"]
        sheet.append(["合计", total["region_code"], total["region_name"], *_measures(total, kinds)])
        for k_index, _kind in enumerate(kinds):
            column = 4 + k_index * len(MEASURE_LABELS) + 2  # the kind's 完成率
            for cells in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cells[0].number_format = PERCENT
        sheet.column_dimensions["C"].width = 22
        if sheet_data["rows"]:
            rank_index = kinds.index(sheet_data["rank_by"])
            column = 4 + rank_index * len(MEASURE_LABELS) + 2
            chart = BarChart()
            chart.type = "col"
            chart.title = f"{sheet_data['label']}{KIND_LABELS[sheet_data['rank_by']]}完成率"
            chart.y_axis.title = "完成率"
            chart.y_axis.numFmt = PERCENT
            last = 1 + len(sheet_data["rows"])
            chart.add_data(Reference(sheet, min_col=column, min_row=1, max_row=last), titles_from_data=True)
            chart.set_categories(Reference(sheet, min_col=3, min_row=2, max_row=last))
            chart.width, chart.height = 24, 12
            sheet.add_chart(chart, f"A{last + 4}")
    quota_sheet = book.create_sheet(QUOTA_SHEET)
    quota_sheet.append([label for _, label in QUOTA_HEADERS])
    for row in report["quotas_and_applications"]:
        quota_sheet.append([TIER_LABELS.get(row[key], row[key]) if key == "tier" else row[key]
                            for key, _ in QUOTA_HEADERS])
    for percent_column in (5, 11):  # 完成率, 转化率
        for cells in quota_sheet.iter_rows(min_row=2, min_col=percent_column, max_col=percent_column):
            cells[0].number_format = PERCENT
    book.save(out)


CSV_HEADERS: Final = ("梯度", "类型", "排名", "区划代码", "地区", "目标", "实际", "完成率", "尚差")


def write_csv(report: Mapping[str, Any], out: IO[bytes]) -> None:
    """Every tier's rows and total as one table (UTF-8 with BOM, for Excel)."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CSV_HEADERS)
    for sheet_data in report["sheets"]:
        for row in [*sheet_data["rows"], {**sheet_data["total"], "rank": "合计"}]:
            for kind in sheet_data["kinds"]:
                m = row["measures"].get(kind)
                if m is not None:
                    writer.writerow([csv_safe(v) for v in (sheet_data["label"], KIND_LABELS[kind], row["rank"],
                                                           row["region_code"], row["region_name"], m["target"],
                                                           m["actual"], m["completion"], m["remaining"])])
    out.write(text.getvalue().encode("utf-8-sig"))
