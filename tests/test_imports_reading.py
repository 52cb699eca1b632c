"""Reading published lists: the header below merged title rows, messy codes, GB18030, blank rows, --map."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from helpers import make_uscc
from imports_support import HEADER, messy, write_csv, write_xlsx

from pipeline.errors import InvalidInput
from pipeline.identifiers import validate_uscc
from pipeline.imports import ImportFile, parse_mapping

CODE = make_uscc("410106", 1)
ROWS = [
    (1, messy(CODE), "郑州上街精密制造有限公司", "郑州市上街区", "2025年6月30日", "豫工信企业〔2025〕88号"),
    (2, make_uscc("410106", 2), "上街新材料（河南）有限公司", 410106, "2025/6/30", ""),
]


def _read(path: Path, mapping: tuple[tuple[str, str], ...] = ()) -> tuple[ImportFile, list]:  # type: ignore[type-arg]
    with path.open("rb") as stream:
        source = ImportFile(stream, path.name)
        return source, list(source.rows(mapping))


@pytest.mark.parametrize("kind", ["xlsx", "gb18030", "utf-8-sig", "utf-8"])
def test_the_header_is_found_below_the_title_and_blank_rows_are_skipped(tmp_path: Path, kind: str) -> None:
    if kind == "xlsx":
        path = write_xlsx(tmp_path / "名单.xlsx", ROWS)
    else:
        path = write_csv(tmp_path / "名单.csv", ROWS, encoding=kind)
    source, rows = _read(path)
    assert source.kind == ("xlsx" if kind == "xlsx" else "csv")
    if kind == "gb18030":
        assert source.encoding == "gb18030"
    assert [row.number for row in rows] == [3, 4]  # title row 1, header row 2, blank trailing rows dropped
    first, second = rows
    assert validate_uscc(first.uscc) == CODE  # full-width, spaces and lower case normalise to the code
    assert first.name == "郑州上街精密制造有限公司"
    assert first.region == "郑州市上街区"
    assert first.effective_date == dt.date(2025, 6, 30)
    assert first.document_no == "豫工信企业〔2025〕88号"
    assert second.name == "上街新材料（河南）有限公司"  # full-width brackets of a registered name are kept
    assert second.region == "410106"  # a code typed as a number
    assert second.effective_date == dt.date(2025, 6, 30)


def test_a_bad_date_is_a_problem_of_that_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", [(1, CODE, "某公司", "410106", "六月底", "")], encoding="utf-8")
    _, [row] = _read(path)
    assert row.effective_date is None
    assert "六月底" in row.problems[0]


def test_map_reads_an_unknown_header(tmp_path: Path) -> None:
    header = ("序号", "纳税人识别号", "企业名称")
    path = write_csv(tmp_path / "l.csv", [(1, CODE, "某公司")], header=header, encoding="utf-8")
    with pytest.raises(InvalidInput, match="no header row"):
        _read(path)
    _, [row] = _read(path, parse_mapping(["纳税人识别号=uscc"]))
    assert row.uscc == CODE


def test_map_refuses_an_unknown_field() -> None:
    with pytest.raises(InvalidInput, match="--map"):
        parse_mapping(["纳税人识别号=taxid"])


def test_unknown_columns_are_named(tmp_path: Path) -> None:
    header = (*HEADER, "联系人")
    path = write_csv(tmp_path / "l.csv", [(1, CODE, "某公司", "", "", "", "张三")], header=header, encoding="utf-8")
    source, _ = _read(path)
    assert source.header is not None
    assert source.header.ignored == ["联系人"]
