"""The chain never cries wolf: for any JSON body the API accepts, the stored event, the history API's items and
the README recipe agree — on SQLite and PostgreSQL — and numbers JSON cannot round-trip are refused by name."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from api_support import BASE, Caller, assert_problem, enroll, event_count, fire, make_uscc, readme_hash
from chain_support import old_recipe_firm
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from pipeline.json_numbers import MAX_SAFE_INTEGER, canonical_value
from pipeline.lifecycle.chain import HASHED_FIELDS as HASHED

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VERIFIER = EXAMPLES / "verify_history.mjs"
EXTREME = {"amount": 1e16, "negative_zero": -0.0, "huge": 1e300, "long": 1.2345678901234567e19, "tiny": 5e-324,
           "half": 0.5, "two": 2.0, "edge": MAX_SAFE_INTEGER, "neg_edge": -MAX_SAFE_INTEGER, "𝄞": ["é", "\u2028"],
           "empty": {}, "none": [], "nested": {"deep": [1e-7, -1.5e-300, {"z": 1e21}]}}


def _history(client: TestClient, caller: Caller, uscc: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/{uscc}/history", headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _recipe_recomputes(history: dict[str, Any]) -> None:
    """The README's recipe, from the API's output alone."""
    prev = "0" * 64
    for event in history["items"]:
        fields = {key: value for key, value in event.items() if key not in ("prev_hash", "hash")}
        assert event["prev_hash"] == prev
        assert event["hash"] == readme_hash(prev, fields, history["hash_recipes"][str(event["seq"])]), event
        prev = event["hash"]


def _verified(client: TestClient, auditor: Caller, uscc: str) -> dict[str, Any]:
    report: dict[str, Any] = client.get("/api/v1/audit/verify", params={"uscc": uscc},
                                        headers=auditor.headers).json()
    assert report["ok"], report
    assert report["problems"] == []
    assert report["warnings"] == []
    return report


def test_extreme_numbers_through_every_door_verify_and_the_recipe_recomputes_them(
        client: TestClient, city: Caller, auditor: Caller) -> None:
    uscc = make_uscc("410106", 601)
    enroll(client, city, uscc, on="2025-01-10", data=EXTREME)
    fire(client, city, uscc, "recognize_innovative", "2025-02-01",
         evidence={"document_no": "豫〔2025〕1号", **EXTREME})
    patched = client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"data": {"amount": 3e17, "two": 4.0}})
    assert patched.status_code == 200, patched.text
    indicators = client.put(f"{BASE}/{uscc}/indicators/2024", headers=city.headers,
                            json={"revenue": 1e16, "rd_spend": 1.2345678901234567e19, "debt_ratio": -0.0})
    assert indicators.status_code == 200, indicators.text
    history = _history(client, city, uscc)
    assert history["hash_recipes"] == {"1": "jcs-1", "2": "jcs-1", "3": "jcs-1", "4": "jcs-1"}
    _recipe_recomputes(history)
    _verified(client, auditor, uscc)
    enrolled = history["items"][0]["evidence"]["data"]
    assert enrolled == canonical_value(EXTREME)  # every field of the firm, from its first day
    assert enrolled["two"] == 2
    assert enrolled["negative_zero"] == 0
    assert isinstance(enrolled["huge"], float)  # the same on both databases, JSONB or not
    firm = client.get(f"{BASE}/{uscc}", headers=city.headers).json()
    assert firm["data"]["huge"] == 1e300
    assert firm["data"]["amount"] == 3e17


@pytest.mark.parametrize(("route", "body", "field"), [
    ("transition", {"evidence": {"document_no": "x", "n": 2**53}}, "evidence.n"),
    ("transition", {"evidence": {"document_no": "x", "a": [1, {"b": -(2**60)}]}}, "evidence.a[1].b"),
    ("enroll", {"data": {"employees": 10**16}}, "data.employees"),
    ("patch", {"data": {"registered_capital": {"cny": 123456789012345678901}}}, "data.registered_capital.cny"),
    ("indicators", {"revenue": 2**60}, "revenue"),
])
def test_integers_beyond_2_53_are_refused_naming_the_field_and_nothing_is_written(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session], route: str, body: dict[str, Any],
        field: str) -> None:
    uscc, new = make_uscc("410106", 602), make_uscc("410106", 603)
    enroll(client, city, uscc, on="2025-01-10")
    if route == "transition":
        response = client.post(f"{BASE}/{uscc}/transitions", headers=city.headers,
                               json={"trigger": "recognize_innovative", "effective_date": "2025-02-01", **body})
    elif route == "enroll":
        response = client.post(BASE, headers=city.headers, json={"uscc": new, "name": "新企业", **body})
    elif route == "patch":
        response = client.patch(f"{BASE}/{uscc}", headers=city.headers, json=body)
    else:
        response = client.put(f"{BASE}/{uscc}/indicators/2024", headers=city.headers, json=body)
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["field"] == field, problem
    assert "2^53" in problem["detail"]
    assert event_count(api_sessions, uscc) == 1
    assert event_count(api_sessions, new) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused_naming_the_field(client: TestClient, city: Caller,
                                                         api_sessions: sessionmaker[Session], literal: str) -> None:
    uscc = make_uscc("410106", 604)
    enroll(client, city, uscc, on="2025-01-10")
    raw = ('{"trigger": "recognize_innovative", "effective_date": "2025-02-01", '
           f'"evidence": {{"document_no": "x", "ratio": {literal}}}}}')
    response = client.post(f"{BASE}/{uscc}/transitions", content=raw,
                           headers={**city.headers, "Content-Type": "application/json"})
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["field"] == "evidence.ratio", problem
    assert event_count(api_sessions, uscc) == 1


def test_an_import_cell_with_an_integer_beyond_2_53_is_a_row_problem(
        database_url: str, client: TestClient, city: Caller, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main

    uscc = make_uscc("410106", 605)
    enroll(client, city, uscc, on="2025-01-10")
    path = tmp_path / "指标.csv"
    path.write_text("统一社会信用代码,年度,营业收入\n"
                    f"{uscc},2024,123456789012345678901\n", encoding="utf-8")
    assert main(["--database-url", database_url, "indicators", "import", str(path), "--apply"]) != 0
    out = capsys.readouterr()
    assert "2^53" in out.out + out.err


# --- an independent verifier in another language ---------------------------------------------------------


def _canonicalize_installed() -> None:
    if (EXAMPLES / "node_modules" / "canonicalize").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "node is installed but npm is not: install the npm package canonicalize into examples/node_modules"
    subprocess.run([npm, "install", "--prefix", str(EXAMPLES), "--no-save", "--no-package-lock",
                    "canonicalize@2"], check=True, capture_output=True, timeout=180)


@pytest.mark.skipif(shutil.which("node") is None, reason="node (Node.js) is not installed: the independent "
                                                         "verifier in another language cannot run")
def test_node_with_the_npm_canonicalize_package_verifies_an_exported_history(
        client: TestClient, city: Caller, tmp_path: Path) -> None:
    _canonicalize_installed()
    uscc = make_uscc("410106", 606)
    enroll(client, city, uscc, on="2025-01-10", data=EXTREME)
    fire(client, city, uscc, "recognize_innovative", "2025-02-01", evidence={"document_no": "豫〔2025〕1号",
                                                                             **EXTREME})
    client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"data": {"amount": 1e-7, "𝄞𝄞": "中文"}})
    exported = tmp_path / "history.json"
    exported.write_text(json.dumps(_history(client, city, uscc), ensure_ascii=False), encoding="utf-8")
    node = shutil.which("node")
    assert node
    result = subprocess.run([node, str(VERIFIER), str(exported)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": True, "checked": 3, "skipped_pyjson": 0, "problems": 0}

    tampered = json.loads(exported.read_text(encoding="utf-8"))
    tampered["items"][1]["evidence"]["amount"] = 1e15
    exported.write_text(json.dumps(tampered), encoding="utf-8")
    result = subprocess.run([node, str(VERIFIER), str(exported)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "seq 2: hash mismatch" in result.stderr


# --- the property: any JSON body the API accepts ----------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
_numbers = (st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.floats(allow_nan=False, allow_infinity=False)
            | st.sampled_from([1e16, -0.0, 1e300, 1.2345678901234567e19, 5e-324, 2.0, -1e-300]))
_json = st.recursive(st.none() | st.booleans() | _numbers | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=12)
_amounts = st.floats(min_value=0, max_value=1e300) | st.integers(0, MAX_SAFE_INTEGER) | st.sampled_from(
    [1e16, -0.0, 1e300, 1.2345678901234567e19])
_serials = itertools.count(700)


@settings(max_examples=int(os.environ.get("PIPELINE_CHAIN_EXAMPLES", "12")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(evidence=_json, data=st.dictionaries(_text, _json, min_size=1, max_size=3), revenue=_amounts,
       debt_ratio=_amounts)
def test_any_json_the_api_accepts_verifies_and_recomputes_from_the_api_output(
        client: TestClient, city: Caller, auditor: Caller, evidence: Any, data: dict[str, Any], revenue: Any,
        debt_ratio: Any) -> None:
    uscc = make_uscc("410106", next(_serials))
    enroll(client, city, uscc, on="2025-01-10", data=data)
    fire(client, city, uscc, "recognize_innovative", "2025-02-01",
         evidence={"document_no": "豫〔2025〕1号", "x": {"v": evidence}})
    patched = client.patch(f"{BASE}/{uscc}", headers=city.headers, json={"data": {"k": evidence}})
    assert patched.status_code in (200, 422), patched.text  # 422: nothing to change (k already equal)
    stored = client.put(f"{BASE}/{uscc}/indicators/2024", headers=city.headers,
                        json={"revenue": revenue, "debt_ratio": debt_ratio})
    assert stored.status_code == 200, stored.text
    history = _history(client, city, uscc)
    assert set(history["hash_recipes"].values()) == {"jcs-1"}
    _recipe_recomputes(history)
    _verified(client, auditor, uscc)
    assert history["items"][0]["evidence"]["data"] == canonical_value(data)
    assert history["items"][1]["evidence"]["x"] == {"v": canonical_value(evidence)}


# --- which recipe sealed each item ------------------------------------------------------------------------


def test_history_search_feed_and_exports_say_which_recipe_sealed_each_event(
        client: TestClient, city: Caller, auditor: Caller, api_sessions: sessionmaker[Session]) -> None:
    old, new = make_uscc("410106", 607), make_uscc("410106", 608)
    old_recipe_firm(api_sessions, old, {"amount": 1e16, "negative_zero": -0.0})  # sealed before jcs-1
    enroll(client, city, new, on="2025-01-10")
    fire(client, city, new, "recognize_innovative", "2025-02-01")
    fire(client, city, old, "recognize_innovative", "2025-02-01")  # a jcs-1 event on an old chain

    history = _history(client, city, old)
    assert history["hash_recipes"] == {"1": "pyjson-1", "2": "pyjson-1", "3": "jcs-1"}
    assert all(set(item) == {*HASHED, "prev_hash", "hash"} for item in history["items"])
    report = client.get("/api/v1/audit/verify", headers=auditor.headers).json()
    assert report["ok"], report

    # A page of several firms never names one seq with two recipes: it ends early and the cursor goes on.
    first = client.get("/api/v1/audit/events", params={"limit": 10}, headers=city.headers).json()
    assert [(i["uscc"], i["seq"]) for i in first["items"]] == [(old, 1), (old, 2)]
    assert first["hash_recipes"] == {"1": "pyjson-1", "2": "pyjson-1"}
    rest = client.get("/api/v1/audit/events", params={"limit": 10, "cursor": first["next_cursor"]},
                      headers=city.headers).json()
    assert [(i["uscc"], i["seq"]) for i in rest["items"]] == [(new, 1), (new, 2), (old, 3)]
    assert rest["hash_recipes"] == {"1": "jcs-1", "2": "jcs-1", "3": "jcs-1"}

    seen: list[tuple[str, int, str]] = []
    after: str | None = None
    for _ in range(100):  # the feed may hold back while other databases' transactions run
        page = client.get("/api/v1/feed", params={"limit": 10, **({"after": after} if after else {})},
                          headers=city.headers).json()
        seen += [(i["uscc"], i["seq"], page["hash_recipes"][str(i["seq"])]) for i in page["items"]]
        after = page["next_cursor"]
        if len(seen) == 5:
            break
    assert seen == [(old, 1, "pyjson-1"), (old, 2, "pyjson-1"), (new, 1, "jcs-1"), (new, 2, "jcs-1"),
                    (old, 3, "jcs-1")]

    exported = client.get("/api/v1/audit/events", params={"uscc": old},
                          headers={**city.headers, "Accept": "text/csv"})
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][-1] == "哈希规则"
    assert [row[-1] for row in rows[1:]] == ["pyjson-1", "pyjson-1", "jcs-1"]


def test_the_readme_recipe_runs_as_written_on_an_exported_history(
        client: TestClient, city: Caller, api_sessions: sessionmaker[Session]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The audit trail and its hash recipe"):]
    recipe = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index(
        "```python\n"))]
    old, new = make_uscc("410106", 609), make_uscc("410106", 610)
    old_recipe_firm(api_sessions, old, {"note": "旧"})
    fire(client, city, old, "recognize_innovative", "2025-02-01")
    enroll(client, city, new, on="2025-01-10", data=EXTREME)
    fire(client, city, new, "recognize_innovative", "2025-02-01", evidence={"document_no": "豫〔2025〕1号", **EXTREME})
    for uscc in (old, new):
        exec(recipe, {"history": _history(client, city, uscc)})  # noqa: S102  # the README's own code, verbatim
    tampered = _history(client, city, new)
    tampered["items"][1]["evidence"]["half"] = 0.25
    with pytest.raises(AssertionError):
        exec(recipe, {"history": tampered})  # noqa: S102
