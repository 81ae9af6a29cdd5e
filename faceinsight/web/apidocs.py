"""A readable API page at ``/api``: the OpenAPI document (:mod:`faceinsight.web.openapi`) laid
out as routes, request fields, answers and the answers' fields, served by the app itself (no
CDN, no script), so it always says what this server does."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, url_for

from faceinsight.web.openapi import openapi_document

blueprint = Blueprint("apidocs", __name__)
METHODS = ("get", "post", "put", "delete", "patch")


def type_text(schema: dict[str, Any]) -> str:
    """A schema's type in a few words: ``integer``, ``array of Face``, ``happy | sad``..."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"] if value != "")
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(type_text(part) for part in schema[key] if part.get("type") != "null")
    if schema.get("type") == "array":
        return f"array of {type_text(schema.get('items', {}))}"
    if schema.get("format") == "binary":
        return "file"
    return str(schema.get("type", "any"))


def fields_of(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """An object schema's properties as rows: name, type, default, required, description."""
    required = set(schema.get("required", []))
    return [{"name": name, "type": type_text(field), "default": field.get("default"),
             "required": name in required, "description": field.get("description", "")}
            for name, field in schema.get("properties", {}).items()]


def route_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Each operation of the document as what the page shows of it."""
    routes = []
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            routes.append({
                "path": path, "method": method, "anchor": f"{method}-{path.strip('/').replace('/', '-')}"
                .replace("{", "").replace("}", "").replace(".", "-"),
                "summary": operation.get("summary", ""), "description": operation.get("description", ""),
                "bodies": [{"type": kind, "fields": fields_of(body.get("schema", {}))}
                           for kind, body in content.items()],
                "parameters": [{"name": parameter["name"], "where": parameter["in"],
                                "description": parameter.get("description", "")}
                               for parameter in [*shared, *operation.get("parameters", [])]],
                "answers": [{"status": status, "description": answer.get("description", ""),
                             "schema": _answer_schema(answer)}
                            for status, answer in sorted(operation["responses"].items())],
            })
    return routes


def _answer_schema(answer: dict[str, Any]) -> str | None:
    for body in answer.get("content", {}).values():
        reference = body.get("schema", {}).get("$ref")
        if reference:
            return reference.rsplit("/", 1)[1]
    return None


def schema_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The answers' schemas, each with its fields."""
    return [{"name": name, "description": schema.get("description", ""), "fields": fields_of(schema)}
            for name, schema in sorted(document["components"]["schemas"].items())]


@blueprint.get("/api")
def api_page() -> str:
    """The API described for people: routes, fields and answers, from the OpenAPI document."""
    document = openapi_document(current_app.config)
    return render_template("api.html", doc=document, routes=route_rows(document),
                           schemas=schema_rows(document), json_url=url_for("api.openapi"))
