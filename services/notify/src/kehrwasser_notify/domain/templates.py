"""Message texts rendered from Jinja2 templates in the member's language, with Babel's dates and numbers.

Each kind of message has three templates per language under ``kehrwasser_notify/templates/<language>/``:
``<kind>.subject.txt`` (one line), ``<kind>.txt`` (the plain text) and ``<kind>.html`` (autoescaped, the HTML
twin, extending ``base.html``). Rendering is pure: the templates come from a Jinja2 loader handed in
(`Templates.packaged` reads them from the installed package through importlib.resources, once each).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

LANGUAGES = ("de", "en")
LOCALES = {"de": "de_DE", "en": "en_GB"}
"""The Babel locale of each language the members service offers."""
# Dates as people write them in letters, not Babel's short forms: "Dienstag, 1. Dezember 2026, 18:00".
WHEN = {"de": "EEEE, d. MMMM y, HH:mm", "en": "EEEE, d MMMM y, HH:mm"}
DAY = {"de": "EEEE, d. MMMM y", "en": "EEEE, d MMMM y"}


class Texts(NamedTuple):
    subject: str
    text: str
    html: str


class Templates:
    """Renders a kind of message in a language; ``loader`` finds ``<language>/<name>`` templates."""

    def __init__(self, loader: jinja2.BaseLoader) -> None:
        self._text = _environment(loader, autoescape=False)
        self._html = _environment(loader, autoescape=True)

    @classmethod
    def packaged(cls) -> Templates:
        return cls(jinja2.PackageLoader("kehrwasser_notify", "templates"))

    def render(self, kind: str, language: str, /, **context: Any) -> Texts:
        if language not in LANGUAGES:
            raise ValueError(f"no templates in language {language!r}")
        context = {**context, "language": language}
        subject = self._text.get_template(f"{language}/{kind}.subject.txt").render(context)
        return Texts(
            # As rendered: a control character from the data (a line break in a title) must reach the header
            # check (`emails.header_text`), which refuses it, rather than be smoothed over here.
            subject,
            self._text.get_template(f"{language}/{kind}.txt").render(context).strip() + "\n",
            self._html.get_template(f"{language}/{kind}.html").render(context),
        )


def _environment(loader: jinja2.BaseLoader, *, autoescape: bool) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails the rendering, never shows as nothing
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["points"] = points
    environment.filters["when"] = when
    environment.filters["day"] = day
    environment.filters["share"] = share
    return environment


def points(value: Decimal, language: str) -> str:
    """Points with two decimals as the member's locale writes them: ``-1.234,50`` or ``-1,234.50``."""
    return format_decimal(value, format="#,##0.00", locale=LOCALES[language])


def share(value: Decimal, language: str) -> str:
    """A coefficient such as the Gini of giving, with two to four decimals: ``0,4231`` or ``0.4231``."""
    return format_decimal(value, format="0.00##", locale=LOCALES[language])


def when(moment: datetime, language: str, timezone: str) -> str:
    """A moment as the member's clocks show it in ``timezone``, with the zone's name."""
    local = moment.astimezone(ZoneInfo(timezone)) if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))
    text = format_datetime(local, WHEN[language], tzinfo=ZoneInfo(timezone), locale=LOCALES[language])
    return f"{text} Uhr ({timezone})" if language == "de" else f"{text} ({timezone})"


def day(moment: datetime, language: str, timezone: str) -> str:
    """The day of a moment in ``timezone``, spelt out."""
    local = moment.astimezone(ZoneInfo(timezone)) if moment.tzinfo else moment
    return format_date(local.date(), DAY[language], locale=LOCALES[language])
