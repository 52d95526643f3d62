"""The message templates: complete in German and English, HTML escaped, dates and numbers by Babel."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from importlib.resources import files

import jinja2
import pytest
from notify_examples import NOW

from kehrwasser_notify.domain import emails
from kehrwasser_notify.domain.model import Contact
from kehrwasser_notify.domain.templates import LANGUAGES, Templates, points, when

SENDER = "Kehrwasser <noreply@kehrwasser.local>"
TEMPLATES = files("kehrwasser_notify") / "templates"


def kinds(language: str) -> set[str]:
    return {
        entry.name.removesuffix(".subject.txt")
        for entry in (TEMPLATES / language).iterdir()
        if entry.name.endswith(".subject.txt")
    }


def test_every_kind_of_message_has_a_subject_a_text_and_an_html_template_in_both_languages() -> None:
    assert kinds("de") == kinds("en")
    for language in LANGUAGES:
        for kind in kinds(language):
            for suffix in (".subject.txt", ".txt", ".html"):
                assert (TEMPLATES / language / f"{kind}{suffix}").is_file(), f"{language}/{kind}{suffix}"


def parsed(message: EmailMessage) -> EmailMessage:
    again = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(again, EmailMessage)
    return again


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_names_are_escaped_in_the_html_and_kept_as_they_are_in_the_text() -> None:
    contact = Contact("ada", "Ada <script>alert(1)</script>", "ada@example.org", "en")
    message = parsed(
        emails.balance_warning(
            sender=SENDER,
            contact=contact,
            alliance_name="Smith & Sons",
            balance=Decimal("-7"),
            threshold=Decimal("-5"),
            light="yellow",
            message_id="<1@kehrwasser>",
            now=NOW,
        )
    )
    html = body(message, "html")
    assert "<script>" not in html
    assert "Ada &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Smith &amp; Sons" in html
    assert "Hello Ada <script>alert(1)</script>," in body(message, "plain")
    assert message["Subject"] == "Your balance of contribution in Smith & Sons is yellow"


@pytest.mark.parametrize(("language", "expected"), [("de", "-1.234,50"), ("en", "-1,234.50")], ids=["de", "en"])
def test_points_are_written_as_the_members_locale_writes_numbers(language: str, expected: str) -> None:
    assert points(Decimal("-1234.5"), language) == expected


def test_a_moment_is_shown_on_the_clocks_of_the_zone_named() -> None:
    moment = datetime(2026, 7, 1, 16, 30, tzinfo=UTC)
    assert when(moment, "de", "Europe/Berlin") == "Mittwoch, 1. Juli 2026, 18:30 Uhr (Europe/Berlin)"
    assert when(moment, "en", "America/New_York") == "Wednesday, 1 July 2026, 12:30 (America/New_York)"


def test_a_misspelt_variable_fails_the_rendering_instead_of_showing_nothing() -> None:
    templates = Templates(jinja2.DictLoader({"en/x.subject.txt": "{{ nmae }}", "en/x.txt": "", "en/x.html": ""}))
    with pytest.raises(jinja2.UndefinedError):
        templates.render("x", "en", name="Ada")
