"""The OpenAPI document integrators generate their clients from: every schema under a unique, meaningful name.

FastAPI names a multipart form's schema ``Body_<function>_<path>_<method>`` — a name that changes whenever a
route is renamed and reads as noise in a generated client — so each form gets a name here. (Two response
models sharing a class name would come out as ``api__routers__<module>__<Class>``; the test that generates a
client from this document refuses both, so give such models distinct class names instead.)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

#: FastAPI's generated form-body name → the name integrators see.
FORM_NAMES = {
    "Body_post_import_api_v1_imports_post": "ImportUpload",
    "Body_post_indicator_import_api_v1_indicators_imports_post": "IndicatorImportUpload",
}

_REF_PREFIX = "#/components/schemas/"


def _renamed_refs(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {key: _renamed_refs(value, names) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and ref[len(_REF_PREFIX):] in names:
            out["$ref"] = _REF_PREFIX + names[ref[len(_REF_PREFIX):]]
        return out
    if isinstance(node, list):
        return [_renamed_refs(value, names) for value in node]
    return node


def rename_schemas(document: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``document`` with the component schemas in ``names`` renamed, and every reference to them."""
    schemas = document.get("components", {}).get("schemas", {})
    present = {old: new for old, new in names.items() if old in schemas}
    clashes = [new for new in present.values() if new in schemas]
    if clashes:
        raise ValueError(f"OpenAPI schema name(s) already taken: {', '.join(clashes)}")
    document = _renamed_refs(document, present)
    renamed = {}
    for name, schema in document["components"]["schemas"].items():
        if name in present:
            name = present[name]
            schema = {**schema, "title": name}  # generators name the class after the title
        renamed[name] = schema
    document["components"]["schemas"] = renamed
    return document


def install(app: FastAPI) -> None:
    """Serve the renamed document at ``/openapi.json`` (built once, on first use, as FastAPI does)."""

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = rename_schemas(build(), FORM_NAMES)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
