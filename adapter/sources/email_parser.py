"""E-mail parsing services (Mailparser.io, Parseur, Power Automate, ...): JSON about one mail.

https://help.mailparser.io/hc/en-us/articles/16253409612564-How-do-advanced-webhooks-work
https://help.parseur.com/en/articles/3566155-send-parsed-data-using-webhooks
These services post whatever JSON the customer's template or field list produces, so the
config names where sender, subject, body, date and so on sit: dotted paths, list indices
allowed ("rows.0.code"). None of them signs its posts; they can add a header, so the URL
is protected with a token header or basic auth (`SharedSecretOptions`).
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from adapter import mail
from adapter.errors import InvalidPayload
from adapter.events import Event
from adapter.settings import SourceSettings
from adapter.sources.base import Inbound, MiB, SourceType

FIELD_NAMES = (
    "from",
    "from_name",
    "subject",
    "body",
    "html",
    "date",
    "message_id",
    "in_reply_to",
    "object_code",
)
REQUIRED_FIELDS = ("from", "subject", "body")


class EmailParserSource(mail.SharedSecretSource, SourceType):
    type_name = "email-parser"
    default_max_body_bytes = MiB

    class Options(mail.SharedSecretOptions):
        # Loaded under `fields` again (post_load), so loading loaded options changes nothing;
        # the attribute cannot be called `fields`, which Schema uses itself.
        paths = fields.Dict(
            keys=fields.String(validate=validate.OneOf(FIELD_NAMES)),
            values=fields.String(validate=validate.Length(min=1)),
            required=True,
            data_key="fields",
        )
        # The parser's own document id (Parseur DocumentID ...): the delivery key.
        id_field = fields.String(load_default=None, allow_none=True)

        @validates_schema
        def _required_paths(self, data: dict[str, Any], **_: Any) -> None:
            missing = [f for f in REQUIRED_FIELDS if f not in data.get("paths", {})]
            if missing:
                raise ValidationError(f"Name the path of: {', '.join(missing)}.", "fields")

        @post_load
        def _as_written(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
            data["fields"] = data.pop("paths")
            return data

    def __init__(self, settings: SourceSettings) -> None:
        super().__init__(settings)
        self.paths: dict[str, str] = dict(self.options["fields"])

    def parse(self, inbound: Inbound) -> Event:
        try:
            payload = json.loads(inbound.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidPayload(
                "The body is not JSON.", errors={"body": [f"Not valid JSON: {exc}"]}
            ) from exc
        if not isinstance(payload, dict | list):
            raise InvalidPayload(
                "The body is not a JSON object.", errors={"body": ["Expected an object."]}
            )
        found = {name: _text(lookup(payload, path)) for name, path in self.paths.items()}
        name, address = mail.parse_sender(found.get("from"))
        errors: dict[str, list[str]] = {}
        if not address:
            errors["from"] = [f"No e-mail address at {self.paths['from']!r}."]
        if found.get("subject") is None and found.get("body") is None and not found.get("html"):
            errors["body"] = [
                f"Neither {self.paths['subject']!r} nor {self.paths['body']!r} is in the JSON."
            ]
        if errors:
            raise InvalidPayload(
                "The JSON does not hold the configured mail fields.", errors=errors
            )
        id_path = self.options.get("id_field")
        document_id = _text(lookup(payload, id_path)) if id_path else None
        code = found.get("object_code")
        incoming = mail.IncomingMail(
            delivery_key=document_id or mail.body_hash(inbound.body),
            sender=address,
            sender_name=found.get("from_name") or name,
            subject=found.get("subject") or "",
            text=found.get("body"),
            html=found.get("html"),
            date=found.get("date"),
            message_id=found.get("message_id"),
            in_reply_to=found.get("in_reply_to"),
            object_keys=(code,) if code else (),
        )
        return mail.build_event(
            incoming, settings=self.settings, config=self.config, received_at=inbound.received_at
        )


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path ("a.b.0.c"); None when any step is missing."""
    current = document
    for step in path.split("."):
        if isinstance(current, dict):
            current = current.get(step)
        elif isinstance(current, list) and step.lstrip("-").isdigit():
            index = int(step)
            current = current[index] if -len(current) <= index < len(current) else None
        else:
            return None
    return current


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
