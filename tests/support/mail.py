"""Builders for e-mail webhook posts: the config entries of the four mail source types, the
lookup tables that know the fixture senders, and signed Mailgun / SendGrid form posts."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAILGUN_KEY = "mailgun-example-signing-key-not-real"
POSTMARK_TOKEN = "postmark-test-token"
SENDGRID_TOKEN = "sendgrid-test-token"
PARSER_TOKEN = "parser-test-token"
POSTMARK_USER = "postmark"
POSTMARK_PASSWORD = "postmark-test-password"
BOUNDARY = "----MailTestBoundary7f3a"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"

# Fixture senders mapped onto the sandbox seed; anyone else falls back to "100099".
MAIL_REPORTERS_CSV = """key,reference,contact_person_reference,default_object,name
p.janssen@example-tenant.nl,100003,,300001,Pieter de Vries
support@postmarkapp.com,100001,,300002,Jansen Vastgoedbeheer B.V.
test@example.com,100002,,300010,Fatima el Amrani
"""


def mail_sources() -> dict[str, Any]:
    """One source of each e-mail type, as the config file names them."""
    common = {"default_reporter": "100099", "default_state": "Nieuw"}
    return {
        "postmark": {
            "type": "postmark",
            **common,
            "tokens": [POSTMARK_TOKEN],
            "basic_auth": {"username": POSTMARK_USER, "passwords": [POSTMARK_PASSWORD]},
        },
        "mailgun": {"type": "mailgun", **common, "signing_keys": [MAILGUN_KEY]},
        "sendgrid": {"type": "sendgrid", **common, "tokens": [SENDGRID_TOKEN]},
        "mail-parser": {
            "type": "email-parser",
            **common,
            "tokens": [PARSER_TOKEN],
            "fields": {
                "from": "sender.email",
                "from_name": "sender.name",
                "subject": "subject",
                "body": "body_plain",
                "date": "received",
                "object_code": "object_code",
            },
            "id_field": "document_id",
        },
    }


def configure_mail(directory: Path, **overrides: Mapping[str, Any]) -> Any:
    """A `configure=` for tests.support.harness.running: the mail sources (each entry updated
    with `overrides[name]`) and a reporters table that knows the fixture senders."""
    (directory / "mail-reporters.csv").write_text(MAIL_REPORTERS_CSV, encoding="utf-8")

    def configure(config: dict[str, Any]) -> None:
        sources = mail_sources()
        for name, values in overrides.items():
            sources[name.replace("_", "-")].update(values)
        config["sources"].update(sources)
        config["lookups"]["reporters"] = "mail-reporters.csv"

    return configure


def form_part(name: str, value: bytes, filename: str | None = None, ctype: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def multipart(
    fields: Mapping[str, str | bytes],
    files: Mapping[str, tuple[str, str, bytes]] | None = None,
) -> bytes:
    """A multipart/form-data body (boundary BOUNDARY) of text fields and file parts."""
    out = b"".join(
        form_part(name, value if isinstance(value, bytes) else value.encode("utf-8"))
        for name, value in fields.items()
    )
    for name, (filename, ctype, data) in (files or {}).items():
        out += form_part(name, data, filename, ctype)
    return out + f"--{BOUNDARY}--\r\n".encode()


def mailgun_signature(
    token: str | None = None, timestamp: int | None = None, key: str = MAILGUN_KEY
) -> dict[str, str]:
    """timestamp, token and signature = hex HMAC-SHA256(key, timestamp + token)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": signature}


# The composed route post (../shared/fixtures/composed/mailgun_inbound_form_fields.txt).
MAILGUN_FIELDS: dict[str, str] = {
    "recipient": "meldingen@mg.acme-facilities.example",
    "sender": "bounce+7a1e.p.janssen=example-tenant.nl@mail.example-tenant.nl",
    "from": "Pieter Janssen <p.janssen@example-tenant.nl>",
    "subject": "Broken window latch, room A1.07",
    "body-plain": "Hi,\n\nThe window latch in room A1.07 is broken, the window cannot be closed "
    "and it is raining in.\n\nRegards,\nPieter\n\n> On Thu 13 Mar, Facilities wrote:\n"
    "> Ticket FAC-198 closed.",
    "stripped-text": "Hi,\n\nThe window latch in room A1.07 is broken, the window cannot be "
    "closed and it is raining in.",
    "stripped-signature": "Regards,\nPieter",
    "body-html": "<div>Hi,</div><div>The window latch in room A1.07 is broken, the window "
    "cannot be closed and it is raining in.</div><div>Regards,<br>Pieter</div>"
    "<blockquote>...</blockquote>",
    "attachment-count": "1",
    "content-id-map": "{}",
    "message-headers": json.dumps(
        [
            ["X-Envelope-From", "<p.janssen@example-tenant.nl>"],
            ["From", "Pieter Janssen <p.janssen@example-tenant.nl>"],
            ["To", "Facilities <meldingen@mg.acme-facilities.example>"],
            ["Subject", "Broken window latch, room A1.07"],
            ["Date", "Fri, 14 Mar 2025 09:18:47 +0100"],
            ["Message-Id", "<CAF3x9QnB8uT4@mail.example-tenant.nl>"],
            ["In-Reply-To", "<20250313151002.1.AB12CD@mg.acme-facilities.example>"],
            ["Mime-Version", "1.0"],
            ["X-Mailgun-Incoming", "Yes"],
        ]
    ),
}
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8

# The composed Inbound Parse post (../shared/fixtures/composed/sendgrid_inbound_form_fields.txt).
SENDGRID_HEADERS = (
    "Received: by mx0047p1mdw1.sendgrid.net with SMTP id 6kLXb1eT3z\r\n"
    " Fri, 14 Mar 2025 08:19:02 +0000\r\n"
    "From: Pieter Janssen <p.janssen@example-tenant.nl>\r\n"
    "To: Facilities <meldingen@parse.acme-facilities.example>\r\n"
    "Subject: Fuse box smells burnt - basement B\r\n"
    "Date: Fri, 14 Mar 2025 09:18:59 +0100\r\n"
    "Message-ID: <CAF3x9QpZ2@mail.example-tenant.nl>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="0000000000004f5e6d"\r\n'
    "X-Priority: 1\r\n"
)
SENDGRID_FIELDS: dict[str, str] = {
    "headers": SENDGRID_HEADERS,
    "dkim": "{@example-tenant.nl : pass}",
    "content-ids": "{}",
    "to": "Facilities <meldingen@parse.acme-facilities.example>",
    "from": "Pieter Janssen <p.janssen@example-tenant.nl>",
    "subject": "Fuse box smells burnt - basement B",
    "text": "Hello,\r\n\r\nThere is a burnt smell coming from the fuse box in the basement of "
    "building B (next to the bike storage). No smoke visible.\r\n\r\nPieter\r\n",
    "html": '<div dir="ltr">Hello,<br><br>There is a burnt smell coming from the fuse box in '
    "the basement of building B (next to the bike storage). No smoke visible.<br><br>Pieter</div>",
    "sender_ip": "192.0.2.25",
    "spam_score": "-0.1",
    "envelope": '{"to":["meldingen@parse.acme-facilities.example"],'
    '"from":"p.janssen@example-tenant.nl"}',
    "attachments": "1",
    "attachment-info": '{"attachment1":{"filename":"fusebox.jpg","name":"fusebox.jpg",'
    '"type":"image/jpeg"}}',
    "charsets": '{"to":"UTF-8","from":"UTF-8","subject":"UTF-8","text":"utf-8","html":"utf-8"}',
    "SPF": "pass",
}
