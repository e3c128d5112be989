"""Postmark inbound webhook: one JSON document per received mail.

https://postmarkapp.com/developer/webhooks/inbound-webhook
Postmark signs nothing; the webhook URL carries basic auth (https://user:pass@host/...)
and/or a token, see `SharedSecretOptions`. Postmark retries every answer except 200 for
about 10.5 hours and stops at once only on 403, so everything it must not send again
(wrong credentials, a body that is not an inbound message) is answered 403.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from adapter import mail
from adapter.errors import InvalidPayload
from adapter.events import Event
from adapter.sources.base import Inbound, MiB, SourceType


class PostmarkSource(mail.SharedSecretSource, SourceType):
    type_name = "postmark"
    # Postmark's retry policy: any non-200 answer is retried, 403 stops retrying at once.
    invalid_status = 403
    unauthenticated_status = 403
    # Postmark retries every answer but 200, 202 included: an accepted mail is answered 200.
    accepted_status = 200
    # Attachments up to 35 MB in total arrive base64-encoded inside the JSON (about +33 %),
    # so a legitimate post can approach 47 MB.
    default_max_body_bytes = 50 * MiB

    def parse(self, inbound: Inbound) -> Event:
        payload = _load(inbound.body)
        incoming = incoming_mail(payload, inbound.body)
        return mail.build_event(
            incoming, settings=self.settings, config=self.config, received_at=inbound.received_at
        )


def _load(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body, object_pairs_hook=_without_content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload(
            "The body is not JSON.", errors={"body": [f"Not valid JSON: {exc}"]}
        ) from exc
    if not isinstance(payload, dict):
        raise InvalidPayload(
            "The body is not a Postmark inbound message.",
            errors={"body": ["Expected a JSON object."]},
        )
    return payload


def _without_content(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Attachment bytes (base64 `Content`) and `RawEmail` are never used: drop each as soon as
    # its object is decoded, so the post is not held in memory a second time as strings.
    obj = dict(pairs)
    for key in ("Content", "Data"):
        if isinstance(obj.get(key), str) and "ContentType" in obj:
            obj[key] = len(obj[key])
    obj.pop("RawEmail", None)
    return obj


def incoming_mail(payload: Mapping[str, Any], body: bytes) -> mail.IncomingMail:
    sender_full = payload.get("FromFull")
    address = _string(sender_full.get("Email")) if isinstance(sender_full, dict) else None
    name = _string(sender_full.get("Name")) if isinstance(sender_full, dict) else None
    if not address:
        name_from, address = mail.parse_sender(_string(payload.get("From")))
        name = name or name_from
    name = name or _string(payload.get("FromName"))
    if not address:
        raise InvalidPayload(
            "The body is not a Postmark inbound message.",
            errors={"From": ["A sender address (From or FromFull.Email) is required."]},
        )
    headers = _headers(payload.get("Headers"))
    message_id = _string(payload.get("MessageID"))
    return mail.IncomingMail(
        delivery_key=message_id or mail.body_hash(body),
        sender=address,
        sender_name=name,
        subject=_string(payload.get("Subject")) or "",
        text=_string(payload.get("TextBody")),
        html=_string(payload.get("HtmlBody")),
        stripped_text=_string(payload.get("StrippedTextReply")),
        # Postmark passes the Date header on as the sending server wrote it.
        date=_string(payload.get("Date")) or headers.get("date"),
        message_id=headers.get("message-id"),
        in_reply_to=headers.get("in-reply-to"),
        references=headers.get("references"),
        headers=headers,
        attachments=_attachments(payload.get("Attachments")),
        # Postmark's MessageID is its own UUID for the received mail: the external id of a
        # mail that came without a Message-ID header.
        fallback_id=message_id,
    )


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _headers(value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in value if isinstance(value, list) else ():
        if isinstance(item, dict) and isinstance(item.get("Name"), str):
            out.setdefault(item["Name"].strip().lower(), mail.decode_words(str(item.get("Value"))))
    return out


def _attachments(value: Any) -> tuple[mail.Attachment, ...]:
    found: list[mail.Attachment] = []
    for item in value if isinstance(value, list) else ():
        if not isinstance(item, dict):
            continue
        size = item.get("ContentLength")
        if not isinstance(size, int):
            # Postmark's own test posts carry `Data` instead of `Content` (here: its length).
            encoded = item.get("Content") or item.get("Data") or 0
            size = encoded * 3 // 4 if isinstance(encoded, int) else 0
        found.append(
            mail.Attachment(
                name=_string(item.get("Name")) or "unnamed",
                content_type=_string(item.get("ContentType")) or "application/octet-stream",
                size=size,
            )
        )
    return tuple(found)
