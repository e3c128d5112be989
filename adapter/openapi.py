"""The adapter's own HTTP API as an OpenAPI 3.1 document (schemas/openapi.json).

Built from the code: the routes are app.ROUTES and admin.ROUTES, each endpoint's operation is
the YAML after `---` in its docstring, and the bodies are the Marshmallow schemas that shape
the answers (admin.SCHEMAS and the few below), rendered by apispec's marshmallow plugin.
`bloxs-adapter schemas --write` writes it; tests/test_schemagen.py fails while it is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.yaml_utils import load_operations_from_docstring
from marshmallow import Schema, fields
from starlette.routing import Route

from adapter import admin, app

DESCRIPTION = (
    "Receives repair requests from webhooks and keeps them as service tickets in Bloxs. "
    "Errors are RFC 9457 application/problem+json. Every answer carries X-Request-ID (the "
    "one sent, or a new one); it is passed on to Bloxs and appears in every log line."
)
ADMIN_SECURITY = "adminToken"


class WebhookAnswerSchema(Schema):
    deliveryId = fields.String(metadata={"description": "Present unless ignored."})
    status = fields.String(metadata={"enum": ["pending", "parked"]})
    reason = fields.String(metadata={"description": "Why it was parked."})
    duplicate = fields.Boolean(metadata={"description": "True for a sender's retry."})
    ignored = fields.String(metadata={"description": "Why the event is not acted on."})


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


class ReadySchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ready", "unavailable"]})
    problems = fields.List(fields.String())


SCHEMAS: dict[str, type[Schema]] = {
    "WebhookAnswer": WebhookAnswerSchema,
    "Health": HealthSchema,
    "Ready": ReadySchema,
    **admin.SCHEMAS,
}


def _endpoints() -> list[tuple[str, Callable[..., Any], bool]]:
    """(path, endpoint, is admin) of every route the adapter serves."""
    out: list[tuple[str, Callable[..., Any], bool]] = [
        (route.path_format, route.endpoint, False)
        for route in app.ROUTES
        if isinstance(route, Route)
    ]
    out += [(app.ADMIN_PREFIX + path, endpoint, True) for path, endpoint in admin.operations()]
    return out


def openapi_document() -> dict[str, Any]:
    spec = APISpec(
        title="bloxs-adapter",
        version="1",
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
    )
    spec.components.security_scheme(
        ADMIN_SECURITY,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "admin.token from the config; without one every /admin path is 404.",
        },
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    for path, endpoint, is_admin in _endpoints():
        operations = load_operations_from_docstring(endpoint.__doc__ or "")
        if not operations:
            raise ValueError(f"{path}: the endpoint's docstring holds no OpenAPI operation")
        for operation in operations.values():
            if is_admin:
                operation.setdefault("tags", ["admin"])
                operation["security"] = [{ADMIN_SECURITY: []}]
                operation["responses"].setdefault(
                    401,
                    {
                        "description": "No or a wrong admin token.",
                        "content": {"application/problem+json": {"schema": "ProblemSchema"}},
                    },
                )
            else:
                operation.setdefault("tags", ["webhooks" if "webhooks" in path else "operations"])
        spec.path(path=path, operations=operations)
    document: dict[str, Any] = spec.to_dict()
    return document
