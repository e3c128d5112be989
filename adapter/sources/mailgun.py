"""Mailgun inbound routes: a route's forward("https://…") action posts the parsed mail.

https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http
https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
The post is application/x-www-form-urlencoded, or multipart/form-data when the mail has
attachments; a route whose URL ends in "mime" posts the whole message in `body-mime`
(read by adapter.mime as it streams past).
`signature` = hex HMAC-SHA256(webhook signing key, timestamp + token) and covers nothing
else, so the token is a nonce (the store refuses it twice) and the timestamp must be recent.
Mailgun retries every answer but 200 for about 8 hours and gives up at once on 406, so what
it must not send again is answered 406.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from marshmallow import fields, validate

from adapter import mail
from adapter.errors import ConfigError, InvalidPayload, Unauthenticated
from adapter.events import Event
from adapter.mime import MimeReader
from adapter.multipart import FormData, parse_form
from adapter.settings import SourceSettings
from adapter.sources.base import (
    Inbound,
    MiB,
    SourceType,
    Verified,
    decode_hex,
    hmac_sha256,
    matches_any,
)

SIGNATURE_FIELDS = ("timestamp", "token", "signature")
MAX_FUTURE_SECONDS = 300


class MailgunSource(SourceType):
    type_name = "mailgun"
    # Mailgun's retry policy: 406 means "rejected, do not retry"; anything else but 200 is
    # retried for hours. Tracking-webhook and store(notify) posts sent here by mistake are the
    # wrong kind and get 406 too.
    invalid_status = 406
    unauthenticated_status = 406
    # Only 200 counts as delivered (webhooks/webhook-retries): a 202 would be retried.
    accepted_status = 200
    default_max_body_bytes = 30 * MiB

    class Options(mail.MailOptions):
        # Several keys while the account's HTTP webhook signing key is being rotated.
        signing_keys = fields.List(
            fields.String(validate=validate.Length(min=1)), load_default=list
        )
        max_age_seconds = fields.Integer(load_default=900, validate=validate.Range(min=1))

    def __init__(self, settings: SourceSettings) -> None:
        super().__init__(settings)
        self.options = mail.load_options(self.Options, settings)
        if not self.options["signing_keys"] and not settings.insecure:
            raise ConfigError(
                f"Source {settings.name!r} has no Mailgun signing key.",
                errors={"signing_keys": ["At least one HTTP webhook signing key is required."]},
            )
        self.config = mail.mail_config(self.options)

    def verify(self, inbound: Inbound) -> Verified:
        timestamp, token, signature = _signature_fields(inbound)
        keys: list[str] = self.options["signing_keys"]
        if not keys and self.settings.insecure:
            return Verified(nonce=token or None)
        if not (timestamp and token and signature):
            raise Unauthenticated("The Mailgun timestamp, token or signature is missing.")
        try:
            signed_at = int(timestamp)
        except ValueError:
            raise Unauthenticated("The Mailgun timestamp is not a number.") from None
        age = inbound.received_at.timestamp() - signed_at
        if age > self.options["max_age_seconds"]:
            raise Unauthenticated("The Mailgun signature is too old.")
        if age < -MAX_FUTURE_SECONDS:
            raise Unauthenticated("The Mailgun timestamp lies in the future.")
        message = (timestamp + token).encode("utf-8")
        expected = [hmac_sha256(key, message).hex().encode("ascii") for key in keys]
        given = decode_hex(signature).hex().encode("ascii")
        if not matches_any(expected, given):
            raise Unauthenticated("The Mailgun signature does not match.")
        return Verified(nonce=token)

    def parse(self, inbound: Inbound) -> Event:
        if inbound.content_type == "application/json":
            raise _wrong_kind("a JSON post (a tracking webhook?)")
        raw = MimeReader()
        form = parse_form(
            inbound.body, inbound.headers.get("content-type", ""), sinks={"body-mime": raw.feed}
        )
        if "message-url" in form or "attachments" in form:
            raise _wrong_kind("a store(notify) post")
        token = form.text("token") or mail.body_hash(inbound.body)
        incoming = _from_mime(raw, form, token) if raw.fed else _from_fields(form, token)
        return mail.build_event(
            incoming, settings=self.settings, config=self.config, received_at=inbound.received_at
        )


def _wrong_kind(what: str) -> InvalidPayload:
    message = f"This URL takes Mailgun inbound route posts, not {what}."
    return InvalidPayload(message, errors={"body": [message]})


def _signature_fields(inbound: Inbound) -> tuple[str, str, str]:
    if inbound.content_type == "application/json":
        # Tracking webhooks sign the same way inside {"signature": {...}}; verifying them
        # lets parse() answer 406 for the wrong kind rather than a misleading signature error.
        try:
            signature = json.loads(inbound.body).get("signature")
        except (ValueError, UnicodeDecodeError, AttributeError):
            signature = None
        values: dict[str, Any] = signature if isinstance(signature, dict) else {}
        return tuple(str(values.get(k) or "") for k in SIGNATURE_FIELDS)  # type: ignore[return-value]
    try:
        form = parse_form(
            inbound.body, inbound.headers.get("content-type", ""), only=SIGNATURE_FIELDS
        )
    except InvalidPayload:
        return "", "", ""
    return tuple(form.text(k) or "" for k in SIGNATURE_FIELDS)  # type: ignore[return-value]


def _message_headers(form: FormData) -> dict[str, str]:
    try:
        pairs = json.loads(form.text("message-headers") or "[]")
    except ValueError:
        pairs = []
    headers: dict[str, str] = {}
    for pair in pairs if isinstance(pairs, list) else ():
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            headers.setdefault(pair[0].strip().lower(), mail.decode_words(pair[1]))
    return headers


def _attachments(form: FormData) -> tuple[mail.Attachment, ...]:
    return tuple(mail.Attachment(f.filename, f.content_type, f.size) for f in form.files)


def _from_fields(form: FormData, token: str) -> mail.IncomingMail:
    headers = _message_headers(form)
    name, address = mail.parse_sender(form.text("from") or headers.get("from"))
    if not address:
        raise InvalidPayload(
            "The body is not a Mailgun inbound route post.",
            errors={"from": ["A sender address is required."]},
        )
    return mail.IncomingMail(
        delivery_key=token,
        sender=address,
        sender_name=name,
        subject=form.text("subject") or headers.get("subject", ""),
        text=form.text("body-plain"),
        html=form.text("body-html"),
        stripped_text=form.text("stripped-text"),
        date=headers.get("date") or form.text("Date"),
        message_id=headers.get("message-id") or form.text("Message-Id"),
        in_reply_to=headers.get("in-reply-to"),
        references=headers.get("references"),
        headers=headers,
        attachments=_attachments(form),
    )


def _from_mime(raw: MimeReader, form: FormData, token: str) -> mail.IncomingMail:
    parsed = raw.mail(delivery_key=token, extra_attachments=_attachments(form))
    if parsed.sender:
        return parsed
    name, address = mail.parse_sender(form.text("from"))
    return replace(parsed, sender=address, sender_name=parsed.sender_name or name)
