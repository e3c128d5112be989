"""What every source type module provides, and the checks they share.

A source type is one class in one module (`adapter/sources/jira.py` ...). It is built once
from its config entry and then only turns an `Inbound` request into an `Event`: no network,
no database, no clock except `Inbound.received_at`. The app does all the I/O around it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from marshmallow import Schema

from adapter.errors import Unauthenticated
from adapter.events import Event
from adapter.settings import SourceSettings

MiB = 1024 * 1024


@dataclass(frozen=True)
class Inbound:
    """One webhook request as received: lower-cased header names and the raw body bytes."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Verified:
    """The outcome of a successful check. `nonce` is a value the sender promises never to
    reuse (Mailgun's token): the store refuses a second delivery that carries it."""

    nonce: str | None = None


class SourceType(ABC):
    """Base class of the source type modules.

    `Options` validates the type-specific keys of the source's config entry (they sit beside
    the common keys); its loaded value is `self.options`. `invalid_status` is what a body that
    is not this sender's shape is answered with: 422 unless the sender needs another code to
    stop retrying (Postmark 403, Mailgun 406). `accepted_status` answers a stored delivery:
    202, unless the sender counts only 200 as delivered (Postmark, Mailgun).
    """

    type_name: ClassVar[str]
    Options: ClassVar[type[Schema]]
    invalid_status: ClassVar[int] = 422
    unauthenticated_status: ClassVar[int] = 401
    accepted_status: ClassVar[int] = 202
    default_max_body_bytes: ClassVar[int] = MiB

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.options: Mapping[str, Any] = settings.options

    @abstractmethod
    def verify(self, inbound: Inbound) -> Verified:
        """Raise Unauthenticated unless the request is authentic."""

    @abstractmethod
    def parse(self, inbound: Inbound) -> Event:
        """Turn an authentic request into an Event, or raise InvalidPayload."""


# --- shared checks -------------------------------------------------------------------------


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def matches_any(expected: Sequence[bytes], given: bytes) -> bool:
    """Constant-time comparison against every candidate (several secrets during rotation);
    every candidate is compared, so timing does not tell which one matched."""
    found = False
    for candidate in expected:
        found |= hmac.compare_digest(candidate, given)
    return found


def decode_hex(value: str) -> bytes:
    try:
        return bytes.fromhex(value.strip())
    except ValueError:
        raise Unauthenticated("The signature is not hexadecimal.") from None


def decode_b64(value: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthenticated("The signature is not base64.") from None


def check_basic_auth(headers: Mapping[str, str], username: str, passwords: Sequence[str]) -> bool:
    value = headers.get("authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, password = decoded.partition(b":")
    if not sep:
        return False
    user_ok = hmac.compare_digest(user, username.encode("utf-8"))
    return matches_any([p.encode("utf-8") for p in passwords], password) and user_ok


def check_token(given: str | None, tokens: Sequence[str]) -> bool:
    if not given:
        return False
    return matches_any([t.encode("utf-8") for t in tokens], given.encode("utf-8"))
