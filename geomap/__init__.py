"""geomap: maps of crossing incidents along the US-Canada border."""

from __future__ import annotations

import importlib
import os
import logging
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

from . import config as settings
from .security import SafeJSONProvider

LOGGER = logging.getLogger(__name__)
STATIC_FOLDER = settings.PROJECT_ROOT / "static"

# Blueprints in geomap.web, registered in this order; each module exposes `bp`.
BLUEPRINTS = ("pages", "maps", "api", "upload", "auth", "editor", "account", "api_write",
              "api_data", "api_regions", "jobs")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: settings, instance folder, database, blueprints and CLI.

    `config` overrides everything else (tests pass temporary paths here); INSTANCE_PATH in it
    chooses the instance folder. Two entries are objects, not settings, and are not kept in
    app.config: REGIONS (the join layers imports use, as `regions.load` returns them) and
    DISPLAY_LAYERS (the display layers maps draw, as `maps.display_layers` returns them).
    Either replaces loading that kind from REGIONS_PATH (`web.layers`; tests inject fakes).
    """
    config = dict(config or {})
    injected_regions = config.pop("REGIONS", None)
    injected_display = config.pop("DISPLAY_LAYERS", None)
    instance_path = Path(config.pop("INSTANCE_PATH", None)
                         or os.environ.get(settings.ENV_PREFIX + "INSTANCE_PATH")
                         or settings.PROJECT_ROOT / "instance")
    app = Flask(__name__, instance_path=str(instance_path.resolve()),
                static_folder=str(STATIC_FOLDER), static_url_path="/static")
    # The instance folder holds the database, the generated secret key and uploads.
    instance_path.mkdir(parents=True, exist_ok=True)
    app.json = SafeJSONProvider(app)
    app.config.update(settings.resolve(instance_path, config))
    app.config["INSTANCE_PATH"] = app.instance_path
    _derived_flask_settings(app)
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)

    from . import cli, db, errors_web, i18n, security
    from .web import columnar, guards, job_queue, layers

    db.init_app(app)
    # Dataset versions' columnar copies, which maps and stats aggregate when they exist.
    columnar.init_app(app)
    # Languages (Flask-Babel): `_` in templates, the request's locale.
    i18n.init_app(app)
    # The queue and the shared store the settings name (a bad URL stops the start).
    job_queue.init_app(app)
    # The region layers (join and display), before anything that reads them.
    layers.init_app(app, regions_obj=injected_regions, display=injected_display)
    errors_web.init_app(app)
    security.init_app(app)
    cli.init_app(app)
    # Who acts (g.user) is set before every request, whichever blueprint answers it.
    guards.init_app(app)
    _register_blueprints(app)
    # Text responses compressed for clients that accept it (behind nginx, nginx does it).
    from .web import compression

    compression.init_app(app)
    _trust_proxies(app)
    if app.config["LOAD_SAMPLE"]:
        from . import sample

        sample.init_app(app)
    return app


def _derived_flask_settings(app: Flask) -> None:
    """Map geomap settings onto the Flask/Werkzeug settings that enforce them."""
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"] * 1024 * 1024)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_NAME"] = "geomap_session"


def _trust_proxies(app: Flask) -> None:
    """Take the client's address and scheme from the PROXY_HOPS proxies in front, if any."""
    hops = int(app.config["PROXY_HOPS"])
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Outermost, after the blueprints' own middleware, so everything sees the client.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def _register_blueprints(app: Flask) -> None:
    for name in BLUEPRINTS:
        try:
            module = importlib.import_module(f"{__name__}.web.{name}")
        except ModuleNotFoundError as exc:
            # Only a blueprint that does not exist yet may be skipped, never a broken one.
            if exc.name != f"{__name__}.web.{name}":
                raise
            continue
        app.register_blueprint(module.bp)
