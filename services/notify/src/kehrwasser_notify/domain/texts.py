"""What the emails say, in German and English."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

WEEKDAYS = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def points(value: Decimal, language: str) -> str:
    text = f"{value:.2f}"
    return text.replace(".", ",") if language == "de" else text


def when(start: datetime, timezone: str, language: str) -> str:
    weekday = WEEKDAYS[language][start.weekday()]
    month = MONTHS[language][start.month - 1]
    if language == "de":
        return f"{weekday}, {start.day}. {month} {start.year}, {start:%H:%M} Uhr ({timezone})"
    return f"{weekday}, {start.day} {month} {start.year}, {start:%H:%M} ({timezone})"


def balance_warning(language: str, *, name: str, alliance: str, balance: str, threshold: str) -> tuple[str, str]:
    """Subject and body paragraphs of a balance warning."""
    if language == "de":
        return (
            f"Deine Beitragsbilanz in {alliance} ist unter {threshold} gefallen",
            f"Hallo {name},\n\n"
            f"deine Beitragsbilanz in der Allianz {alliance} steht jetzt bei {balance} Punkten und damit unter "
            f"der Warnschwelle von {threshold}.\n\n"
            "Eine Allianz trägt, solange jedes Mitglied gibt und nimmt: Niemand soll nur nehmen. Teile in den "
            "nächsten Wochen etwas mit den anderen – einen Rat, einen Kontakt, eine Analyse, einen Auftrag – "
            "und deine Bilanz erholt sich.\n\n"
            "Herzliche Grüße\nKehrwasser",
        )
    return (
        f"Your balance of contribution in {alliance} fell below {threshold}",
        f"Hello {name},\n\n"
        f"your balance of contribution in the alliance {alliance} is now {balance} points, below the "
        f"warning threshold of {threshold}.\n\n"
        "An alliance works while every member gives as well as takes: nobody should only take. Share something "
        "with the others in the coming weeks – advice, an introduction, an analysis, an order – and your "
        "balance recovers.\n\n"
        "Best regards\nKehrwasser",
    )


def meeting_invitation(
    language: str, *, name: str, alliance: str, title: str, when_text: str, location: str, duration: int
) -> tuple[str, str]:
    """Subject and body paragraphs of a meeting invitation."""
    if language == "de":
        return (
            f"Einladung: {title} – {when_text}",
            f"Hallo {name},\n\n"
            f"die Allianz {alliance} trifft sich: {title}\n\n"
            f"Wann: {when_text}, {duration} Minuten\n"
            f"Wo: {location or 'wird noch bekannt gegeben'}\n\n"
            "Die Einladung liegt als Kalendereintrag bei; sag bitte zu oder ab.\n\n"
            "Herzliche Grüße\nKehrwasser",
        )
    return (
        f"Invitation: {title} – {when_text}",
        f"Hello {name},\n\n"
        f"the alliance {alliance} is meeting: {title}\n\n"
        f"When: {when_text}, {duration} minutes\n"
        f"Where: {location or 'to be announced'}\n\n"
        "The calendar invitation is attached; please accept or decline it.\n\n"
        "Best regards\nKehrwasser",
    )
