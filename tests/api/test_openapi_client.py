"""Integrators generate their clients from `/openapi.json`: every schema has one meaningful name, and
`openapi-python-client` generates every operation and every model without a warning."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture(scope="module")
def document() -> dict[str, object]:
    with TestClient(create_app("sqlite://")) as client:  # the document does not depend on the data
        response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def test_schema_names_are_meaningful_class_names(document: dict[str, object]) -> None:
    names = list(document["components"]["schemas"])  # type: ignore[index]
    assert len(names) == len(set(names))
    generated = [name for name in names if "__" in name or name.startswith("Body_")]
    assert generated == [], "give these models their own class names (or a name in api/openapi.py FORM_NAMES)"
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", name) for name in names), names
    assert {"ImportReportOut", "ImportRowOut", "IndicatorImportOut", "IndicatorImportRowOut",
            "ImportUpload", "IndicatorImportUpload"} <= set(names)


def test_every_reference_resolves(document: dict[str, object]) -> None:
    text = json.dumps(document)
    schemas = document["components"]["schemas"]  # type: ignore[index]
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in schemas


@pytest.mark.skipif(not GENERATOR.exists(), reason="openapi-python-client (dev dependency) is not installed")
def test_openapi_python_client_generates_every_operation_and_model_without_warnings(
        document: dict[str, object], tmp_path: Path) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    config = tmp_path / "config.yml"
    config.write_text("project_name_override: pipeline-client\npackage_name_override: pipeline_client\n"
                      "post_hooks: []\n", encoding="utf-8")
    out = tmp_path / "client"
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--config", str(config), "--meta", "none",
         "--output-path", str(out), "--fail-on-warning"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for complaint in ("Warning", "WARNING", "Unable", "Could not", "Skipping", "omitted", "removal"):
        assert complaint not in output, output

    modules = {path.stem for path in (out / "api").rglob("*.py") if path.name != "__init__.py"}
    operations = [operation["operationId"] for methods in document["paths"].values()  # type: ignore[attr-defined]
                  for operation in methods.values()]
    missing = [op for op in operations if re.sub(r"[\W_]+", "_", op).strip("_").lower() not in modules]
    assert missing == []
    models = (out / "models" / "__init__.py").read_text(encoding="utf-8")
    for name in document["components"]["schemas"]:  # type: ignore[index]
        assert re.search(rf"^from \.\w+ import {name}$", models, re.MULTILINE), f"model {name} not generated"
