"""The account's preferences that are plain choices: its language."""

from __future__ import annotations

from kasacare.kit.errors import ValidationFailed

DEFAULT_LANGUAGE = "en"
#: Languages the owner may choose. Pages and mail are written in English today; the choice
#: is stored so they follow it when translations come (en-GB already spells dates the same).
LANGUAGES = {"en": "English (US)", "en-GB": "English (UK)"}


class InvalidLanguage(ValidationFailed):
    code = "invalid_language"
    title = "Unsupported language"


def checked_language(value: str) -> str:
    if value not in LANGUAGES:
        raise InvalidLanguage(
            f"{value!r} is not a supported language; choose one of {', '.join(LANGUAGES)}",
            field="language",
            languages=list(LANGUAGES),
        )
    return value
