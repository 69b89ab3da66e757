"""Languages: the locale a request is answered in, and the message catalogues (Flask-Babel).

Catalogues live in ``geomap/translations/<lang>/LC_MESSAGES/messages.po`` and their compiled
``messages.mo`` (both committed; ``make translations`` extracts, updates and compiles them,
and a test checks the ``.mo`` is the ``.po`` compiled); ``babel.cfg`` tells ``pybabel
extract`` where the strings are. Templates use ``{{ _("...") }}`` and the filters
``numberformat``/``dateformat``; Python code reaching a page uses ``flask_babel.gettext``,
Flask-free code a `geomap.language.Words`.

Which language: ``?lang=`` when it names one we speak; else, on pages, the browser's
preference (Accept-Language, answered with ``Vary: Accept-Language``); else English.
Embeds, static images and oEmbed (`ARGS_ONLY`) follow ``?lang=`` only: an embed speaks the
language of the article it sits in, which its snippet names, not the browser of each
reader, and so stays one cached response per URL.
"""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, get_locale

from . import filters
from .errors import BadRequest
from .language import LANGUAGES, TRANSLATIONS, default_units

#: Endpoints answered in the language their URL names (else English), whatever the browser.
ARGS_ONLY = frozenset({"maps.embed", "maps.map_png", "maps.oembed"})
#: Blueprints of the editors' pages (upload, preview, reports, datasets, sign-in, tokens,
#: job progress): English only until their catalogue is complete, so an editor whose browser
#: prefers French never gets a page half in each language.
ENGLISH_ONLY = frozenset({"upload", "editor", "auth", "account", "jobs"})


def asked_language() -> str | None:
    """Return the language ``?lang=`` names (``fr``, ``fr-CA``, ``FR``), or None (also for
    one we do not speak: map views refuse it with a 400, in English)."""
    try:
        return filters.parse_lang(request.args.get("lang"))
    except BadRequest:
        return None


def follows_browser() -> bool:
    """Say whether this request's language may come from Accept-Language."""
    return request.endpoint not in ARGS_ONLY and request.blueprint not in ENGLISH_ONLY


def select_locale() -> str:
    """Return the request's language: ``?lang=`` when it names one we speak, else (pages
    only) the browser's preference (Accept-Language), else English."""
    if request.blueprint in ENGLISH_ONLY:
        return LANGUAGES[0]
    asked = asked_language()
    if asked:
        return asked
    if not follows_browser():
        return LANGUAGES[0]
    return request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0])


def reader_options(params: dict) -> dict:
    """Return filters with ``lang`` and ``units`` resolved for this request (for keys and
    rendering): the language `select_locale` picks, the units asked for or its default."""
    lang = params.get("lang") or select_locale()
    return dict(params, lang=lang, units=params.get("units") or default_units(lang))


def current_language() -> str:
    """The language this request is answered in (``en``, ``fr``), for templates."""
    return str(get_locale() or LANGUAGES[0])


def init_app(app: Flask) -> None:
    """Install Flask-Babel: ``_``/``gettext``/``ngettext`` in templates, our locale selector,
    and ``Vary: Accept-Language`` on responses whose language came from it."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["current_language"] = current_language

    @app.after_request
    def _vary(response):
        # Every HTML answer that read Accept-Language (pages, error pages, unknown addresses).
        if (follows_browser() and asked_language() is None
                and response.mimetype == "text/html"):
            response.vary.add("Accept-Language")
        return response
