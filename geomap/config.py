"""Settings: one table with defaults and help text, overridable by GEOMAP_* variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "GEOMAP_"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {text!r}")


@dataclass(frozen=True)
class Setting:
    """One setting: its name (without prefix), default, parser and help text."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name


# Defaults of None are filled from the instance folder by resolve().
SETTINGS: tuple[Setting, ...] = (
    Setting("INSTANCE_PATH", "instance/",
            "Folder for the SQLite database, generated secret key and uploads (read from the "
            "environment only, before the other settings)."),
    Setting("DATABASE_URL", None,
            "SQLAlchemy URL of the database. Default: SQLite (WAL) at instance/geomap.sqlite. "
            "PostgreSQL: postgresql+psycopg://user@host:5432/dbname."),
    Setting("SECRET_KEY", None,
            "Key that signs sessions and CSRF tokens. Default: generated once into "
            "instance/secret_key."),
    Setting("MAX_UPLOAD_MB", 50, "Largest accepted upload in megabytes; larger requests get 413.",
            float),
    Setting("PREVIEW_CHECK_ROWS", 100_000,
            "The upload preview counts the rows an import would keep and reject on at most this "
            "many rows (a dry run of the import's validation); larger files are counted on "
            "their first rows and the preview says so. 0: the whole file.", int),
    Setting("TILES", "openstreetmap",
            "Basemap: 'openstreetmap' (tile requests to tile.openstreetmap.org) or 'none' "
            "(no third-party request at all; land, water and borders drawn from shapefiles/)."),
    Setting("EMBED_FRAME_ANCESTORS", "*",
            "CSP frame-ancestors for /embed/* pages (space-separated origins, or '*'). "
            "Every other page is 'none'."),
    Setting("AT_BORDER_M", 100.0,
            "Points within this many metres of the border are flagged at_border; a declared "
            "state/province is kept for them.", float),
    Setting("MAX_BORDER_KM", 100.0,
            "Rows farther than this from the border are accepted with a warning "
            "(rejected in strict mode).", float),
    Setting("AREA_KM", 500.0,
            "Area of interest: rows farther than this from the border are rejected as outside "
            "the service's area.", float),
    Setting("REGIONS_PATH", str(PROJECT_ROOT / "shapefiles" / "regions.gpkg"),
            "GeoPackage with the admin1, border, usbp_sectors and border_segments layers."),
    Setting("UPLOAD_FOLDER", None,
            "Folder where original uploaded files are kept for audit and replay. "
            "Default: instance/uploads."),
    Setting("IMPORT_CACHE_MB", 64,
            "SQLite: memory an import (or revert) gives the database's page cache, and what "
            "the index rebuild that ends a large import may use for sorting (its three sort "
            "threads share it). More speeds up appends into large datasets; less lowers an "
            "import's peak memory (see BENCHMARKS.md, 'Import memory'). PostgreSQL: unused "
            "(the server's own settings apply).", float),
    Setting("STORAGE_URL", "database",
            "Where uploads and rejected-rows files are kept for every app server: "
            "'database' (chunked rows in the database) or a URL fsspec opens, e.g. "
            "s3://bucket/prefix (s3fs; AWS_* variables) or file:///mnt/shared/geomap. UPLOAD_FOLDER "
            "is then only each server's working copy."),
    Setting("QUEUE_URL", "",
            "Task queue of background imports: empty for SQLite (instance/queue.sqlite, "
            "workers inside the app process), redis://host:6379/0 for Redis shared by app "
            "servers and `flask --app geomap worker` processes."),
    Setting("QUEUE_WORKERS", 1,
            "Worker threads each app process runs for background imports (started with the "
            "first job it sees); 0 when `flask --app geomap worker` processes run them.", int),
    Setting("JOB_LEASE_S", 60.0,
            "Seconds a running job's lease lasts without renewal (renewed twice a second); a "
            "job whose worker died is retried once after it expires, then marked failed.",
            float),
    Setting("LOAD_SAMPLE", True,
            "Load and publish the illustrative sample dataset when the service starts on an "
            "empty database.", _bool),
    Setting("MAP_CLUSTER_LIMIT", 5000,
            "Cluster maps show individual markers only when at most this many incidents "
            "match; above it they are grouped into grid cells.", int),
    Setting("MAP_HEAT_MAX_CELLS", 6000,
            "Most grid cells a heat or time map may carry (bounds the page size, about 25 "
            "bytes per cell).", int),
    Setting("MAP_CACHE_SIZE", 256,
            "Rendered maps (HTML and PNG) kept per process in memory, in front of the shared "
            "cache (GEOMAP_CACHE_URL).", int),
    Setting("CACHE_URL", "",
            "Where rendered maps, images and the tables under maps are cached for every "
            "worker: empty for a cache in instance/cache (diskcache, shared by the workers of "
            "one server); redis://host:6379/0 for Redis, shared by every app server using the "
            "same database URL; file:///folder for a cache elsewhere; 'memory' for none "
            "(each process its own, and every request reads the dataset's version from the "
            "database)."),
    Setting("CACHE_SIZE_MB", 1024,
            "Largest size of the cache in the instance folder (or file:// folder), in "
            "megabytes; the oldest entries go first. Redis is bounded by its own maxmemory.",
            float),
    Setting("CACHE_VERSION_TTL", 10.0,
            "Seconds a worker answers from a dataset's version as it last read it. Every change "
            "made through geomap takes effect at once, in every worker and server; this only "
            "bounds how long a change made around it (SQL by hand) can go unnoticed.", float),
    Setting("PRERENDER", True,
            "After an import or edit commits, render the dataset's map page, embed and image "
            "(default parameters, in English and French) in the background, for the hosts "
            "readers use, so that no reader pays for the first rendering.", _bool),
    Setting("COLUMNAR", True,
            "Maps and stats aggregate a columnar copy (DuckDB) of each dataset version, built "
            "in the background after a change commits (or on the first read that misses it); "
            "until it is there they read the database. Off: every read goes to the database.",
            _bool),
    Setting("COLUMNAR_FOLDER", None,
            "Folder holding the columnar copies (one DuckDB file per dataset, about 30 bytes "
            "per incident). Default: instance/columnar. Each app server builds what it "
            "lacks, so it need not be shared."),
    Setting("MAP_EMBED_MAX_AGE", 300,
            "Cache-Control max-age in seconds for published embeds, PNGs, oEmbed and the region "
            "layers (/api/regions).", int),
    Setting("PROXY_HOPS", 0,
            "Reverse proxies in front of the app whose X-Forwarded-For and X-Forwarded-Proto "
            "headers are trusted (1 behind the nginx of deploy/). With 0 they are ignored, so "
            "a client cannot choose the address sign-in attempts are counted against; behind "
            "a proxy without it every client shares the proxy's address.", int),
    Setting("SESSION_COOKIE_SECURE", False,
            "Always mark the session cookie Secure and send Strict-Transport-Security (turn on "
            "when the site is served only over HTTPS); without it the cookie is still Secure "
            "on requests that came over HTTPS.", _bool),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def resolve(instance_path: Path, overrides: Mapping[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the effective settings: defaults < instance/config.py < GEOMAP_* env < overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    values.update(_instance_file(instance_path / "config.py"))
    for setting in SETTINGS:
        if setting.env in environ:
            values[setting.name] = _parse(setting, environ[setting.env])
    values.update(overrides or {})
    _fill_instance_defaults(values, instance_path)
    return values


def _parse(setting: Setting, raw: str) -> Any:
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{setting.env}={raw!r} is not valid: {exc}") from None


def _instance_file(path: Path) -> dict[str, Any]:
    """Read upper-case names from an optional instance/config.py."""
    if not path.is_file():
        return {}
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - operator's own file
    return {k: v for k, v in namespace.items() if k.isupper()}


def _fill_instance_defaults(values: dict[str, Any], instance_path: Path) -> None:
    if not values.get("DATABASE_URL"):
        values["DATABASE_URL"] = f"sqlite:///{instance_path / 'geomap.sqlite'}"
    if not values.get("UPLOAD_FOLDER"):
        values["UPLOAD_FOLDER"] = str(instance_path / "uploads")
    if not values.get("COLUMNAR_FOLDER"):
        values["COLUMNAR_FOLDER"] = str(instance_path / "columnar")
    if not values.get("SECRET_KEY"):
        values["SECRET_KEY"] = _instance_secret(instance_path / "secret_key")


def _instance_secret(path: Path) -> str:
    """Read the generated secret key, creating it (mode 0600) on first run."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
