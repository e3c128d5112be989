"""SendGrid (Twilio) Inbound Parse: every mail to the parse host as a multipart/form-data post.

https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook
https://support.sendgrid.com/hc/en-us/articles/46513815674395-Understanding-Inbound-Parse-Webhook-Retry-Logic
Two modes: parsed (parts `headers`, `from`, `subject`, `text`, `html`, `charsets`,
`attachment1..N`) and "Send Raw" (the whole MIME message in one `email` part, read by
adapter.mime while the part streams past, so a 30 MB raw post is held once). SendGrid signs
nothing by default: the URL carries basic auth and/or a token (`SharedSecretOptions`).
"""

from __future__ import annotations

import json
from dataclasses import replace

from adapter import mail
from adapter.errors import InvalidPayload
from adapter.events import Event
from adapter.mime import MimeReader
from adapter.multipart import FormData, parse_form
from adapter.sources.base import Inbound, MiB, SourceType


class SendgridSource(mail.SharedSecretSource, SourceType):
    type_name = "sendgrid"
    # SendGrid retries 5xx for up to 72 hours and drops the message at once on 3xx/4xx. A
    # wrong credential or a body that is not a Parse post will never succeed, so 401/422
    # (dropped) are right; only transient trouble (the store: 503) asks for a retry.
    invalid_status = 422
    unauthenticated_status = 401
    # SendGrid accepts messages up to 30 MB including attachments.
    default_max_body_bytes = 30 * MiB

    def parse(self, inbound: Inbound) -> Event:
        raw = MimeReader()
        content_type = inbound.headers.get("content-type", "")
        if inbound.content_type != "multipart/form-data":
            message = f"Inbound Parse posts multipart/form-data, got {inbound.content_type!r}."
            raise InvalidPayload(message, errors={"body": [message]})
        form = parse_form(inbound.body, content_type, sinks={"email": raw.feed})
        incoming = _from_mime(raw, form) if raw.fed else _from_fields(form)
        if not incoming.sender:
            raise InvalidPayload(
                "The body is not an Inbound Parse post.",
                errors={"from": ["A sender address is required."]},
            )
        key = mail.normalise_message_id(incoming.message_id) or mail.body_hash(inbound.body)
        return mail.build_event(
            replace(incoming, delivery_key=key),
            settings=self.settings,
            config=self.config,
            received_at=inbound.received_at,
        )


def _charsets(form: FormData) -> dict[str, str]:
    try:
        charsets = json.loads(form.text("charsets") or "{}")
    except ValueError:
        return {}
    if not isinstance(charsets, dict):
        return {}
    return {str(k): v for k, v in charsets.items() if isinstance(v, str)}


def _attachments(form: FormData) -> tuple[mail.Attachment, ...]:
    return tuple(mail.Attachment(f.filename, f.content_type, f.size) for f in form.files)


def _from_fields(form: FormData) -> mail.IncomingMail:
    # The `charsets` part names each text part's encoding; SendGrid itself converts
    # to/from/cc/subject to UTF-8, but text and html arrive as the sender wrote them.
    charsets = _charsets(form)
    headers = mail.header_block(form.text("headers") or "")
    name, address = mail.parse_sender(
        form.text("from", charsets.get("from")) or headers.get("from")
    )
    return mail.IncomingMail(
        delivery_key="",
        sender=address,
        sender_name=name,
        subject=form.text("subject", charsets.get("subject")) or headers.get("subject", ""),
        text=form.text("text", charsets.get("text")),
        html=form.text("html", charsets.get("html")),
        date=headers.get("date"),
        message_id=headers.get("message-id"),
        in_reply_to=headers.get("in-reply-to"),
        references=headers.get("references"),
        headers=headers,
        attachments=_attachments(form),
    )


def _from_mime(raw: MimeReader, form: FormData) -> mail.IncomingMail:
    parsed = raw.mail(delivery_key="", extra_attachments=_attachments(form))
    if parsed.sender:
        return parsed
    charsets = _charsets(form)
    name, address = mail.parse_sender(form.text("from", charsets.get("from")))
    return replace(parsed, sender=address, sender_name=parsed.sender_name or name)
