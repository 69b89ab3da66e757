"""Languages: the locale a request is answered in, and the message catalogues (Flask-Babel).

Catalogues live in ``geomap/translations/<lang>/LC_MESSAGES/messages.po`` (compiled to ``.mo``
at build time); ``babel.cfg`` tells ``pybabel extract`` where the strings are. Templates use
``{{ _("...") }}``; Python code uses ``flask_babel.gettext`` / ``lazy_gettext``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask_babel import Babel

#: The languages geomap speaks; the first is the default.
LANGUAGES = ("en", "fr")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def select_locale() -> str:
    """Return the request's language: ``?lang=`` when it names one we speak, else the
    browser's preference (Accept-Language), else English."""
    asked = (request.args.get("lang") or "").strip().lower()
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0])


def init_app(app: Flask) -> None:
    """Install Flask-Babel: ``_``/``gettext``/``ngettext`` in templates, our locale selector."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=select_locale)
