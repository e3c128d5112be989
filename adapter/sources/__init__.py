"""The source types, listed explicitly: nothing registers itself on import.

The key is the `type:` of a source in the config file, the module name and the test file name.
"""

from __future__ import annotations

from adapter.sources.base import SourceType
from adapter.sources.email_parser import EmailParserSource
from adapter.sources.jira import JiraSource
from adapter.sources.mailgun import MailgunSource
from adapter.sources.postmark import PostmarkSource
from adapter.sources.sendgrid import SendgridSource

SOURCE_TYPES: dict[str, type[SourceType]] = {
    "jira": JiraSource,
    "postmark": PostmarkSource,
    "mailgun": MailgunSource,
    "sendgrid": SendgridSource,
    "email-parser": EmailParserSource,
}
