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


def balance_warning(
    language: str, *, name: str, alliance: str, balance: str, threshold: str | None, light: str
) -> tuple[str, str]:
    """Subject and body of a warning to the member: yellow (drifting, or nothing given lately) or red."""
    if language == "de":
        colour = {"yellow": "gelb", "red": "rot"}[light]
        cause = (
            f"steht jetzt bei {balance} Punkten und damit unter der Schwelle von {threshold}."
            if threshold is not None
            else "zeigt, dass du in letzter Zeit nichts beigetragen hast."
        )
        return (
            f"Deine Beitragsbilanz in {alliance} steht auf {colour}",
            f"Hallo {name},\n\n"
            f"deine Ampel in der Allianz {alliance} steht auf {colour.upper()}: deine Beitragsbilanz {cause}\n\n"
            "Eine Allianz trägt, solange jedes Mitglied gibt und nimmt: Niemand soll nur nehmen. Teile in den "
            "nächsten Wochen etwas mit den anderen – einen Rat, einen Kontakt, eine Analyse, einen Auftrag – "
            "und deine Bilanz erholt sich."
            + ("\n\nBei Rot erfahren es auch die Moderatoren der Allianz." if light == "red" else "")
            + "\n\nHerzliche Grüße\nKehrwasser",
        )
    cause = (
        f"is now {balance} points, below the threshold of {threshold}."
        if threshold is not None
        else "shows that you have not contributed anything lately."
    )
    return (
        f"Your balance of contribution in {alliance} is {light}",
        f"Hello {name},\n\n"
        f"your traffic light in the alliance {alliance} is {light.upper()}: your balance of contribution {cause}\n\n"
        "An alliance works while every member gives as well as takes: nobody should only take. Share something "
        "with the others in the coming weeks – advice, an introduction, an analysis, an order – and your "
        "balance recovers."
        + ("\n\nOn red, the alliance's moderators are told as well." if light == "red" else "")
        + "\n\nBest regards\nKehrwasser",
    )


def red_escalation(
    language: str, *, moderator: str, member: str, alliance: str, balance: str, threshold: str | None
) -> tuple[str, str]:
    """Subject and body of the note to a moderator that a member of their alliance turned red."""
    limit = f" ({threshold})" if threshold is not None else ""
    if language == "de":
        return (
            f"{member} steht in {alliance} auf Rot",
            f"Hallo {moderator},\n\n"
            f"die Beitragsbilanz von {member} in der Allianz {alliance} steht bei {balance} Punkten, unter der "
            f"roten Schwelle{limit}. {member} hat ebenfalls eine Nachricht bekommen.\n\n"
            "Sprich beim nächsten Treffen darüber, ob die Allianz noch in eine Richtung zieht.\n\n"
            "Herzliche Grüße\nKehrwasser",
        )
    return (
        f"{member} is red in {alliance}",
        f"Hello {moderator},\n\n"
        f"the balance of contribution of {member} in the alliance {alliance} is {balance} points, below the red "
        f"threshold{limit}. {member} has been told as well.\n\n"
        "Talk about it at the next meeting: does the alliance still pull in one direction?\n\n"
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
