"""The jira source type: signature checks and the mapping of real Jira payloads to Events."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapter.errors import ConfigError, InvalidPayload, Unauthenticated
from adapter.events import Event, StateRef
from adapter.settings import SourceSettings
from adapter.sources.base import Inbound
from adapter.sources.jira import JiraSource

FIXTURES = Path(__file__).parents[2] / ".." / "shared" / "fixtures"
JIRA = FIXTURES / "jira"
COMPOSED = FIXTURES / "composed"
SECRET = "jira-example-secret-not-real"  # the composed README's test secret
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def make_source(*, options: dict[str, Any] | None = None, **settings: Any) -> JiraSource:
    """A JiraSource the way the config loader builds one, with overrides."""
    loaded = JiraSource.Options().load({"secrets": [SECRET], **(options or {})})
    return JiraSource(
        SourceSettings(name="jira", type="jira", timezone=AMSTERDAM, options=loaded, **settings)
    )


def load(path: Path) -> bytes:
    return path.read_bytes()


def inbound(
    body: bytes, headers: dict[str, str] | None = None, received_at: datetime | None = None
) -> Inbound:
    """A request received one minute after the payload's own timestamp (fixtures are old)."""
    if received_at is None:
        stamp = json.loads(body).get("timestamp", 0)
        received_at = datetime.fromtimestamp(stamp / 1000, tz=UTC) + timedelta(minutes=1)
    return Inbound(headers=headers or {}, body=body, received_at=received_at)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse(body: bytes, source: JiraSource | None = None, **kwargs: Any) -> Event:
    return (source or make_source()).parse(inbound(body, **kwargs))


def payload(**changes: Any) -> bytes:
    """The composed issue-created payload with top-level keys replaced (None removes one)."""
    data = json.loads(load(COMPOSED / "jira_issue_created.json"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()


def with_fields(body: bytes, **changes: Any) -> bytes:
    data = json.loads(body)
    data["issue"]["fields"].update(changes)
    return json.dumps(data).encode()


# --- every fixture ----------------------------------------------------------------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "jira/mm-cloud-comment-created.json": {
        "kind": "note",
        "external_id": "TES-41",
        "note": "Test User commented in Jira:\n\nAdded a comment",
        "delivery_key": "jira-comment:10019",
    },
    "jira/mm-cloud-issue-created-custom-fields.json": {
        "kind": "create",
        "external_id": "KT-22",
        "state": StateRef(system="Active"),
        "fields": {
            "description": "Lots of fields selected\n\nThe good description",
            "externalLink": "https://mmtest.atlassian.net/browse/KT-22",
            "reportingDate": "2019-08-27",
            "priority": 2,
        },
    },
    "jira/mm-cloud-issue-created.json": {
        "kind": "create",
        "external_id": "TES-41",
        "state": StateRef(system="Active"),
        "summary": "TES-41 created: Unit test summary",
        "fields": {
            "description": "Unit test summary\n\nUnit test description, not that long",
            "externalLink": "https://some-instance-test.atlassian.net/browse/TES-41",
            # 19:01 on 15 Feb in California is 04:01 on 16 Feb in Amsterdam.
            "reportingDate": "2019-02-16",
            "priority": 3,
        },
    },
    "jira/mm-cloud-issue-deleted.json": {
        "kind": "ignore",
        "external_id": "IDT-19",
        "ignore_reason": "issue deleted in Jira",
    },
    "jira/mm-cloud-issue-updated-priority-raised.json": {
        "kind": "update",
        "external_id": "TES-41",
        "changed": ("priority",),
    },
    "jira/mm-cloud-issue-updated-status-resolved.json": {
        "kind": "close",
        "external_id": "TES-41",
        "changed": ("state",),
        "state": StateRef(system="Done"),
    },
    "jira/mm-server-issue-assigned-mojibake-ja.json": {
        "kind": "ignore",
        "external_id": "PRJA-37",
        "ignore_reason": "no mapped field changed (assignee)",
    },
    "jira/mm-server-issue-updated-commented.json": {
        "kind": "note",
        "external_id": "PRJX-14",
        "note": "Lev Brouk commented in Jira:\n\nunik",
        "delivery_key": "jira-comment:10082",
    },
    "jira/zulip-jira-server-issue-created-unicode.json": {
        "kind": "create",
        "external_id": "BUG-15",
        # Jira Server 5 statuses have no statusCategory; unmapped "Open" leaves the
        # state to the source's default.
        "state": None,
        "summary": "BUG-15 created: New bug with à hook",
        "fields": {
            "description": "New bug with à hook\n\nFix me please",
            "externalLink": "http://lfranchi.com:8080/browse/BUG-15",
            "reportingDate": "2013-03-27",
            "priority": 2,  # "Major" is not in the default map: default_priority
        },
    },
    "composed/jira_issue_created.json": {
        "kind": "create",
        "external_id": "FAC-217",
        "state": StateRef(system="Active"),
        "summary": "FAC-217 created: Leaking radiator valve in meeting room B2.14",
    },
    "composed/jira_issue_updated_status_priority.json": {
        "kind": "update",
        "external_id": "FAC-217",
        "changed": ("priority", "state"),
        "state": StateRef(system="Active"),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_maps_to_expected_event(name: str) -> None:
    """Each recorded or composed Jira payload parses to the Event written down for it."""
    event = parse(load(FIXTURES / name))
    assert event.source == "jira"
    for attribute, expected in EXPECTED[name].items():
        assert getattr(event, attribute) == expected, attribute


def test_every_jira_fixture_has_an_expectation() -> None:
    """A fixture added to the shared folder must get an expectation here."""
    on_disk = {f"jira/{p.name}" for p in JIRA.glob("*.json")}
    on_disk |= {f"composed/{p.name}" for p in COMPOSED.glob("jira_*.json")}
    assert on_disk == set(EXPECTED)


def test_composed_create_maps_every_field() -> None:
    """The composed create gives the Bloxs fields, reporter and object key a person expects."""
    source = make_source(
        options={"object_key": {"field": "customfield_10046"}},
        problem_category_map={"maintenance REQUEST": "Verwarming"},
    )
    event = parse(load(COMPOSED / "jira_issue_created.json"), source)
    assert event.fields == {
        "description": (
            "Leaking radiator valve in meeting room B2.14\n\n"
            "What is wrong\n\n"
            "The radiator valve in meeting room B2.14 is leaking; there is a puddle under the "
            "window.\n\n"
            "Location\n\n"
            "- Building B, 2nd floor\n"
            "- Room 2.14, next to the pantry\n\n"
            "Please turn off the supply before 12:00, the room is booked this afternoon."
        ),
        "externalLink": "https://acme-facilities.atlassian.net/browse/FAC-217",
        "reportingDate": "2025-03-14",
        "priority": 2,
        "problemCategoryName": "Verwarming",
    }
    assert event.object_keys == ("B2.14",)
    assert event.reporter is not None
    assert event.reporter.keys == ("712020:5b7c1f9e-3a41-4c8e-9d2b-0f6a8e4c1d77",)
    assert event.reporter.name == "Sanne de Vries"
    assert event.reporter.email is None  # Cloud webhooks carry no e-mail addresses
    assert event.notes_after_create == ()


def test_composed_update_changes_priority_and_state_not_assignee() -> None:
    """A transition with a priority change updates priority and state; the assignee is not
    a Bloxs field."""
    event = parse(load(COMPOSED / "jira_issue_updated_status_priority.json"))
    assert event.kind == "update"
    assert event.fields["priority"] == 3
    assert event.changed == ("priority", "state")
    assert event.summary == "FAC-217 updated: priority, state"


def test_fixtures_with_full_issue_keep_non_ascii_text() -> None:
    """The unicode and mojibake payloads parse without touching their text."""
    event = parse(load(JIRA / "zulip-jira-server-issue-created-unicode.json"))
    assert event.reporter is not None
    assert event.reporter.keys == (
        "99:27935d01-92a7-4687-8272-a9b8d3b2ae2e",
        "othello@zulip.com",
        "lfranchi",
    )
    mojibake = make_source(options={"on_deleted": "close"}).parse(
        inbound(load(JIRA / "mm-server-issue-assigned-mojibake-ja.json"))
    )
    assert mojibake.kind == "ignore"


# --- signature ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "signature"),
    [
        (
            "jira_issue_created.json",
            "sha256=3bb89b9f8bdde0236aefab634354d66f9975aba1c4c48e93587d95b9aebe27b4",
        ),
        (
            "jira_issue_updated_status_priority.json",
            "sha256=9276e6459dbebe5e42eab221658b9d673363239704bd037a4461666f6bb62209",
        ),
    ],
)
def test_composed_readme_signatures_verify(name: str, signature: str) -> None:
    """The README's X-Hub-Signature values verify against the exact file bytes."""
    body = load(COMPOSED / name)
    make_source().verify(inbound(body, {"x-hub-signature": signature}))


def test_atlassian_known_answer_vector() -> None:
    """Atlassian's published vector verifies: "Hello World!" under "It's a Secret to Everybody"."""
    source = make_source(options={"secrets": ["It's a Secret to Everybody"]})
    signature = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"
    source.verify(inbound(b"Hello World!", {"x-hub-signature": signature}, datetime.now(UTC)))


def test_wrong_signature_is_refused_without_leaking() -> None:
    """A signature made with another secret is refused; the message shows neither secret nor
    digest."""
    body = load(COMPOSED / "jira_issue_created.json")
    with pytest.raises(Unauthenticated) as caught:
        make_source().verify(inbound(body, {"x-hub-signature": sign(body, "another-secret")}))
    message = str(caught.value)
    assert SECRET not in message
    assert sign(body).split("=")[1] not in message
    assert sign(body, "another-secret").split("=")[1] not in message


def test_tampered_body_is_refused() -> None:
    """A signature over different bytes (re-serialised JSON) does not verify."""
    body = load(COMPOSED / "jira_issue_created.json")
    reserialised = json.dumps(json.loads(body)).encode()
    with pytest.raises(Unauthenticated):
        make_source().verify(inbound(reserialised, {"x-hub-signature": sign(body)}))


def test_missing_signature_is_refused() -> None:
    """No X-Hub-Signature header on a source with a secret is a 401 that says what is missing."""
    with pytest.raises(Unauthenticated, match="missing X-Hub-Signature"):
        make_source().verify(inbound(load(COMPOSED / "jira_issue_created.json")))


@pytest.mark.parametrize("header", ["sha1=abcdef", "sha512=00", "nonsense"])
def test_unknown_or_malformed_method_is_refused(header: str) -> None:
    """Only sha256 is accepted; the refusal names the supported method."""
    body = load(COMPOSED / "jira_issue_created.json")
    with pytest.raises(Unauthenticated) as caught:
        make_source().verify(inbound(body, {"x-hub-signature": header}))
    if "=" in header:
        assert "supported: sha256" in str(caught.value)


def test_non_hex_signature_is_refused() -> None:
    """A sha256 value that is not hexadecimal is refused, not a crash."""
    body = load(COMPOSED / "jira_issue_created.json")
    with pytest.raises(Unauthenticated):
        make_source().verify(inbound(body, {"x-hub-signature": "sha256=not-hex"}))


def test_rotated_secrets_accept_the_second() -> None:
    """During rotation a signature made with any configured secret is accepted."""
    body = load(COMPOSED / "jira_issue_created.json")
    source = make_source(options={"secrets": ["old-secret-being-retired", SECRET]})
    source.verify(inbound(body, {"x-hub-signature": sign(body)}))
    source.verify(inbound(body, {"x-hub-signature": sign(body, "old-secret-being-retired")}))


def test_insecure_needs_no_signature_but_refuses_a_wrong_one() -> None:
    """insecure: an unsigned request passes; a present but wrong signature is still refused."""
    body = load(COMPOSED / "jira_issue_created.json")
    source = make_source(insecure=True)
    source.verify(inbound(body))
    with pytest.raises(Unauthenticated):
        source.verify(inbound(body, {"x-hub-signature": sign(body, "wrong")}))


def test_no_secret_is_a_config_error_unless_insecure() -> None:
    """Without secrets the source is refused when built, unless insecure is set."""
    with pytest.raises(ConfigError) as caught:
        make_source(options={"secrets": []})
    assert caught.value.errors is not None
    assert "secrets" in caught.value.errors
    body = load(COMPOSED / "jira_issue_created.json")
    make_source(options={"secrets": []}, insecure=True).verify(inbound(body))


# --- replay window -----------------------------------------------------------------------------


def verify(body: bytes, source: JiraSource | None = None, **kwargs: Any) -> None:
    """verify() of a correctly signed request; the replay window is part of verify()."""
    (source or make_source()).verify(
        inbound(body, headers={"x-hub-signature": sign(body)}, **kwargs)
    )


def test_old_payload_is_refused_as_too_old() -> None:
    """A payload whose timestamp is older than the replay window is a 401 "too old"."""
    body = load(COMPOSED / "jira_issue_created.json")
    sent = datetime.fromtimestamp(json.loads(body)["timestamp"] / 1000, tz=UTC)
    source = make_source(options={"replay_window_seconds": 3600})
    with pytest.raises(Unauthenticated, match="too old"):
        verify(body, source, received_at=sent + timedelta(hours=1, seconds=1))
    verify(body, source, received_at=sent + timedelta(minutes=59))


def test_default_window_covers_jira_retries_but_not_days() -> None:
    """The default window accepts a late retry (hours) and refuses a replay two days later."""
    body = load(COMPOSED / "jira_issue_created.json")
    sent = datetime.fromtimestamp(json.loads(body)["timestamp"] / 1000, tz=UTC)
    verify(body, received_at=sent + timedelta(hours=3))
    with pytest.raises(Unauthenticated, match="too old"):
        verify(body, received_at=sent + timedelta(days=2))


def test_future_timestamp_is_refused() -> None:
    """A timestamp more than five minutes ahead of the receiving clock is refused."""
    body = load(COMPOSED / "jira_issue_created.json")
    sent = datetime.fromtimestamp(json.loads(body)["timestamp"] / 1000, tz=UTC)
    with pytest.raises(Unauthenticated, match="future"):
        verify(body, received_at=sent - timedelta(minutes=6))
    verify(body, received_at=sent - timedelta(minutes=4))


def test_old_payload_is_refused_in_insecure_mode_too() -> None:
    """Without a signature to check (insecure), an old payload is still refused."""
    body = load(COMPOSED / "jira_issue_created.json")
    sent = datetime.fromtimestamp(json.loads(body)["timestamp"] / 1000, tz=UTC)
    source = make_source(insecure=True)
    with pytest.raises(Unauthenticated, match="too old"):
        source.verify(inbound(body, received_at=sent + timedelta(days=2)))


def test_parse_alone_does_not_judge_age() -> None:
    """parse() maps old payload files (translate's dry run); age is verify()'s business."""
    body = load(COMPOSED / "jira_issue_created.json")
    assert parse(body, received_at=datetime(2030, 1, 1, tzinfo=UTC)).kind == "create"


def test_payload_without_timestamp_passes() -> None:
    """No timestamp field means no replay check, not a refusal."""
    body = payload(timestamp=None)
    verify(body, received_at=datetime(2030, 1, 1, tzinfo=UTC))


# --- delivery key, dates, lengths --------------------------------------------------------------


def test_delivery_key_from_header_else_body_hash() -> None:
    """The Atlassian identifier header is the delivery key; without it, the body's SHA-256."""
    body = load(COMPOSED / "jira_issue_created.json")
    identifier = "2c1a1e0b-8c5f-4b52-a1d7-3e9f0a6b7c21"
    assert parse(body, headers={"x-atlassian-webhook-identifier": identifier}).delivery_key == (
        identifier
    )
    assert parse(body).delivery_key == "sha256:" + hashlib.sha256(body).hexdigest()


def test_both_comment_deliveries_share_one_key() -> None:
    """comment_created and the issue_updated carrying the same comment get one delivery key,
    so the comment becomes one Bloxs note."""
    data = json.loads(load(JIRA / "mm-server-issue-updated-commented.json"))
    cloud = json.loads(load(JIRA / "mm-cloud-comment-created.json"))
    cloud["comment"]["id"] = data["comment"]["id"]
    first = parse(json.dumps(data).encode(), headers={"x-atlassian-webhook-identifier": "a"})
    second = parse(json.dumps(cloud).encode(), headers={"x-atlassian-webhook-identifier": "b"})
    assert first.kind == second.kind == "note"
    assert first.delivery_key == second.delivery_key == "jira-comment:10082"


def test_late_evening_utc_is_reported_next_day_in_amsterdam() -> None:
    """An issue created 23:30 UTC on 3 December is reported on 4 December."""
    body = with_fields(payload(), created="2026-12-03T23:30:00.000+0000")
    assert parse(body).fields["reportingDate"] == "2026-12-04"
    utc = make_source()
    utc_settings = SourceSettings(
        name="jira", type="jira", timezone=ZoneInfo("UTC"), options=utc.options
    )
    assert JiraSource(utc_settings).parse(inbound(body)).fields["reportingDate"] == "2026-12-03"


def test_long_description_is_shortened_and_kept_whole_for_a_note() -> None:
    """A description over 512 characters is cut with "…" and posted in full after creation."""
    long_text = " ".join(f"word{i}" for i in range(200))
    event = parse(with_fields(payload(), description=long_text))
    description = event.fields["description"]
    assert len(description) <= 512
    assert description.endswith("…")
    assert description.startswith("Leaking radiator valve in meeting room B2.14\n\nword0 word1")
    assert event.notes_after_create == (
        f"Leaking radiator valve in meeting room B2.14\n\n{long_text}",
    )


def test_adf_description_is_accepted() -> None:
    """An ADF document in fields.description becomes plain text."""
    adf = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Lamp broken"}]}],
    }
    event = parse(with_fields(payload(), description=adf))
    assert event.fields["description"].endswith("\n\nLamp broken")


# --- value maps ----------------------------------------------------------------------------


def test_status_map_names_win_over_category() -> None:
    """A status named in status_map (any case) maps to that Bloxs state name."""
    source = make_source(status_map={"to do": "Nieuw"})
    event = parse(load(COMPOSED / "jira_issue_created.json"), source)
    assert event.state == StateRef(name="Nieuw")


def test_priority_map_is_case_insensitive_with_default() -> None:
    """priority_map matches names case-insensitively; unmapped names get default_priority."""
    source = make_source(priority_map={"MEDIUM": 3}, default_priority=1)
    assert parse(load(COMPOSED / "jira_issue_created.json"), source).fields["priority"] == 3
    unmapped = parse(load(JIRA / "mm-cloud-issue-created.json"), source)  # "High"
    assert unmapped.fields["priority"] == 1


def test_cost_category_from_custom_field_option() -> None:
    """cost_category_field reads an option {value} and maps it; unmapped values are omitted."""
    source = make_source(
        options={"cost_category_field": "customfield_10045"},
        cost_category_map={"building b": "Onderhoud B"},
    )
    event = parse(load(COMPOSED / "jira_issue_created.json"), source)
    assert event.fields["costCategoryName"] == "Onderhoud B"
    assert "problemCategoryName" not in event.fields


@pytest.mark.parametrize(
    ("object_key", "changes", "expected"),
    [
        ({"field": "customfield_10045"}, {}, ("Building B",)),
        ({"field": "customfield_10099"}, {"customfield_10099": 23}, ("23",)),
        (
            {"field": "customfield_10099"},
            {"customfield_10099": [{"value": "A-1"}, "A-2", {"value": "A-1"}]},
            ("A-1", "A-2"),
        ),
        (
            {"component_prefix": "OBJ-"},
            {"components": [{"name": "OBJ-0042"}, {"name": "x"}]},
            ("0042",),
        ),
        ({"label_prefix": "obj-"}, {"labels": ["hvac", "obj-B2.14"]}, ("B2.14",)),
        ({"label_prefix": "object:"}, {}, ()),
    ],
)
def test_object_keys(
    object_key: dict[str, str], changes: dict[str, Any], expected: tuple[str, ...]
) -> None:
    """Each object_key option finds the real-estate-object keys where it says."""
    source = make_source(options={"object_key": object_key})
    event = parse(with_fields(payload(), **changes), source)
    assert event.object_keys == expected


def test_reporter_keys_follow_the_configured_order_and_fall_back() -> None:
    """reporter_keys picks and orders the keys; without a reporter the creator is used."""
    body = load(JIRA / "mm-cloud-issue-created.json")
    source = make_source(options={"reporter_keys": ["email", "key"]})
    assert parse(body, source).reporter.keys == ("some-instance-test@gmail.com", "admin")  # type: ignore[union-attr]
    no_reporter = with_fields(body, reporter=None)
    assert parse(no_reporter, source).reporter.name == "Test User"  # type: ignore[union-attr]


# --- event kinds --------------------------------------------------------------------------


def test_deleted_issue_closes_when_configured() -> None:
    """on_deleted: close turns jira:issue_deleted into a close."""
    source = make_source(options={"on_deleted": "close"})
    event = parse(load(JIRA / "mm-cloud-issue-deleted.json"), source)
    assert (event.kind, event.external_id) == ("close", "IDT-19")


def test_unhandled_and_ignored_events_name_the_event() -> None:
    """Events not handled, or listed in ignore_events, are ignored with a reason naming them."""
    worklog = parse(payload(webhookEvent="worklog_created"))
    assert worklog.kind == "ignore"
    assert worklog.ignore_reason == "event worklog_created is not handled"
    source = make_source(options={"ignore_events": ["comment_created"]})
    comment = parse(load(JIRA / "mm-cloud-comment-created.json"), source)
    assert comment.kind == "ignore"
    assert "comment_created" in (comment.ignore_reason or "")


def test_update_with_comment_prefers_the_update() -> None:
    """An update that changes a mapped field and carries a comment is an update."""
    data = json.loads(load(COMPOSED / "jira_issue_updated_status_priority.json"))
    data["comment"] = {"id": "1", "body": "On my way", "author": {"displayName": "Joris"}}
    assert parse(json.dumps(data).encode()).kind == "update"


def test_description_edit_is_an_update_of_the_description() -> None:
    """A summary edit recomputes the description and names it changed."""
    data = json.loads(load(JIRA / "mm-cloud-issue-updated-priority-raised.json"))
    data["changelog"]["items"] = [{"field": "summary", "fieldId": "summary", "toString": "x"}]
    event = parse(json.dumps(data).encode())
    assert event.changed == ("description",)
    assert event.fields["description"].startswith("Unit test summary 1\n\n")


def test_status_change_to_unmapped_uncategorised_status_is_not_a_change() -> None:
    """A status with neither a mapping nor a category cannot be said in Bloxs: ignored."""
    data = json.loads(load(JIRA / "mm-cloud-issue-updated-status-resolved.json"))
    del data["issue"]["fields"]["status"]["statusCategory"]
    data["changelog"]["items"] = [{"field": "status", "toString": "Weird"}]
    event = parse(json.dumps(data).encode())
    assert event.kind == "ignore"


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"\xff\xfe\x00", "body"),
        (b"[1, 2]", "body"),
        (b'{"timestamp": 1}', "webhookEvent"),
        (b'{"webhookEvent": "jira:issue_created", "issue": {"id": "1"}}', "issue.key"),
        (b'{"webhookEvent": "comment_created"}', "issue.key"),
        (b'{"webhookEvent": "jira:issue_updated", "issue": {"key": 7}}', "issue.key"),
    ],
)
def test_bodies_that_are_not_jira_webhooks_are_invalid(body: bytes, field: str) -> None:
    """Non-JSON, non-objects and issue events without issue.key are 422s naming the field."""
    source = make_source()
    with pytest.raises(InvalidPayload) as caught:
        source.parse(Inbound(headers={}, body=body, received_at=datetime.now(UTC)))
    assert caught.value.errors is not None
    assert field in caught.value.errors


def test_invalid_options_are_a_config_error() -> None:
    """object_key with two ways at once is refused when the source is built."""
    with pytest.raises(ConfigError) as caught:
        JiraSource(
            SourceSettings(
                name="jira",
                type="jira",
                timezone=AMSTERDAM,
                options={"object_key": {"field": "x", "label_prefix": "y"}},
            )
        )
    assert caught.value.errors is not None


def test_options_defaults_and_single_secret() -> None:
    """Options load with documented defaults; one secret may be written as a string."""
    loaded = JiraSource.Options().load({"secrets": "s3cr3t"})
    assert loaded["secrets"] == ["s3cr3t"]
    assert "s3cr3t" not in repr(loaded["secrets"])
    assert loaded["replay_window_seconds"] == 86400
    assert loaded["reporter_keys"] == ["accountId", "email", "name"]
    assert loaded["object_key"] == {"label_prefix": "object:"}
    assert loaded["problem_category_field"] == "issuetype.name"
    assert loaded["cost_category_field"] is None
    assert loaded["on_deleted"] == "ignore"
    assert loaded["ignore_events"] == []
