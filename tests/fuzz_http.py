"""HTTP fuzzing harness: hypothesis strategies and the properties every request must keep.

Used by tests/test_fuzz_http.py (a bounded, derandomized run in CI) and bench/fuzz.py (long
runs with random seeds). Everything goes through the real app (``create_app``) and Werkzeug's
test client, so a failure here is a failure a user can cause with one request.

Properties checked (`Failure` names the broken one):

- no response is a 5xx, and reading a streamed body never raises;
- a 4xx carries a message: ``{"error": {"message": ...}}`` on JSON endpoints, an HTML page
  elsewhere;
- imports are all or nothing: a refused or failed import changes nothing anywhere (incidents,
  imports, datasets, versions); an accepted one changes the target dataset by exactly the rows
  its report says it imported, records one import and bumps the version at most once;
- a file of good rows with one damaged record costs at most that record (stray or missing
  delimiter, huge numbers, control characters, long cells); an unclosed quote may cost more
  but never silently;
- after sign-in the redirect target is a local path without control characters.

Each failure raises a `Failure` subclass made per *signature* (status, exception type), so
hypothesis treats different defects as different bugs and shrinks each one separately.
"""

from __future__ import annotations

import codecs
import html
import io
import itertools
import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from hypothesis import strategies as st

from geomap import accounts, db

DATA = Path(__file__).parent / "data" / "ingest"
CORPUS = {path.name: path.read_bytes() for path in sorted(DATA.glob("*.csv"))}
USER, PASSWORD = "fuzz-editor", "fuzz-pass-123"


# --- failures ---------------------------------------------------------------------------------

class Failure(AssertionError):
    """A broken property; subclasses are made per signature (see `failure_type`)."""

    signature = "failure"


_FAILURE_TYPES: dict[str, type[Failure]] = {}
_FAILURE_LOCK = threading.Lock()
#: Signatures bench/fuzz.py asks to step over (so defects behind them can be found).
SKIP: set[str] = set()


def failure_type(signature: str) -> type[Failure]:
    with _FAILURE_LOCK:
        kind = _FAILURE_TYPES.get(signature)
        if kind is None:
            name = "Failure_" + re.sub(r"\W+", "_", signature)[:60]
            kind = type(name, (Failure,), {"signature": signature})
            _FAILURE_TYPES[signature] = kind
        return kind


def fail(signature: str, message: str):
    if signature in SKIP:
        from hypothesis import reject

        reject()
    raise failure_type(signature)(f"[{signature}] {message}")


# --- the app under test -----------------------------------------------------------------------

class _Tracebacks(logging.Handler):
    """Keep the tracebacks the app logs for unexpected errors (errors_web._unexpected)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.last: tuple[str, str] | None = None

    def emit(self, record):
        if record.exc_info:
            exc = record.exc_info[1]
            text = logging.Formatter().formatException(record.exc_info)
            self.last = (f"{type(exc).__module__}.{type(exc).__name__}", text)


@dataclass
class Env:
    """One app with an editor, a token and seeded datasets, shared by many examples."""

    app: object
    token: str
    client: object  # anonymous reader
    editor: object  # signed in through the login form
    tracebacks: _Tracebacks
    outcomes: Counter = field(default_factory=Counter)
    refusals: Counter = field(default_factory=Counter)  # why imports were refused (figures)
    _slugs: itertools.count = field(default_factory=lambda: itertools.count(1))
    _addresses: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def engine(self) -> sa.Engine:
        return db.engine_for(self.app.config["DATABASE_URL"])

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def fresh_slug(self) -> str:
        return f"fz-{next(self._slugs)}"

    def fresh_address(self) -> str:
        # Sign-in attempts are limited per client address (10 a minute): one per example.
        n = next(self._addresses)
        return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"

    def close(self) -> None:
        logging.getLogger("geomap.errors_web").removeHandler(self.tracebacks)


BASE_SLUG, THRESHOLD_SLUG, DRAFT_SLUG = "base", "thr", "draft"


def make_env(app) -> Env:
    """Seed an app for fuzzing: an editor and token, a published dataset with rows (``base``),
    one published only as totals of 5 or more (``thr``) and a draft (``draft``)."""
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, USER, PASSWORD)
        token = accounts.create_token(conn, "fuzz", USER)
    handler = _Tracebacks()
    logging.getLogger("geomap.errors_web").addHandler(handler)
    env = Env(app=app, token=token, client=app.test_client(), editor=app.test_client(),
              tracebacks=handler)
    response = env.editor.post("/auth/login", data={"name": USER, "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": env.fresh_address()})
    assert response.status_code == 302, response.get_data(as_text=True)
    seeds = ((BASE_SLUG, ("basic.csv", "counts_directions.csv", "month_only.csv",
                          "latlon_string.csv", "duplicate_ids.csv"), True),
             (THRESHOLD_SLUG, ("basic.csv",), True), (DRAFT_SLUG, ("basic.csv",), False))
    for slug, names, publish in seeds:
        for name in names:
            response = env.client.post(
                f"/api/datasets/{slug}/incidents?publish={int(publish)}", data=CORPUS[name],
                headers={**env.auth, "Content-Type": "text/csv"})
            assert response.status_code == 201, (name, response.get_data(as_text=True))
    with env.engine.begin() as conn:
        conn.execute(sa.update(db.datasets).where(db.datasets.c.slug == THRESHOLD_SLUG)
                     .values(min_public_count=5))
    return env


# --- database state ---------------------------------------------------------------------------

def fingerprint(env: Env) -> tuple:
    """Everything an import may change, over all datasets (a refused one changes none of it)."""
    with env.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM imports), "
            "(SELECT count(*) FROM datasets), (SELECT coalesce(sum(version), 0) FROM datasets), "
            "(SELECT count(*) FROM datasets WHERE published)")).one()


def dataset_state(env: Env, slug: str) -> dict | None:
    with env.engine.connect() as conn:
        row = conn.execute(sa.select(db.datasets.c.id, db.datasets.c.version,
                                     db.datasets.c.published)
                           .where(db.datasets.c.slug == slug)).mappings().first()
        if row is None:
            return None
        count = conn.execute(sa.select(sa.func.count()).select_from(db.incidents)
                             .where(db.incidents.c.dataset_id == row["id"])).scalar_one()
        imports = conn.execute(sa.select(sa.func.count()).select_from(db.imports)
                               .where(db.imports.c.dataset_id == row["id"])).scalar_one()
        return {**row, "count": count, "imports": imports}


def import_record(env: Env, import_id: int) -> dict:
    with env.engine.connect() as conn:
        return dict(conn.execute(sa.select(db.imports).where(db.imports.c.id == import_id))
                    .mappings().one())


# --- corpus and mutations ---------------------------------------------------------------------

def decode(data: bytes) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


#: BOM-less UTF-16 once (refused as binary), UTF-8 most often.
ENCODINGS = ("utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16", "utf-16-le", "cp1252",
             "latin-1")


def encode(text: str, encoding: str) -> bytes:
    # cp1252/latin-1 cannot hold every character: unknown ones become "?", as Excel does.
    errors = "surrogatepass" if encoding.startswith("utf") else "replace"
    return text.encode(encoding, errors)


HUGE = "9" * 400
HUGE_NUMBERS = (HUGE, "-" + HUGE, HUGE + ".5", "0." + "0" * 398 + "1", "1e400", "-1e400",
                "1" + "0" * 308, "18446744073709551616", "NaN", "inf", "-Infinity")
CONTROL = ("\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028",
           "\ufeff", "\ufffd", "\r", "\n", "\r\n")
DELIMS = (",", ";", "\t", "|")
ODD_HEADERS = ("", " ", "lat", "LAT", " Latitude ", "lon", "date", "date", "location", "x", "y",
               "é", "𝕏", "\ufefflat", "a\x00b", '"lat"', "lat,lon", "1", "=1+1", "id", "count",
               "coordinates", "state", "#", "lat" * 200)


COORDINATE_NAMES = ("lat", "lon", "latitude", "longitude", "x", "y", "location", "point",
                    "coordinates")


def _cells(line: str, delim: str) -> list[str]:
    return line.split(delim)


@st.composite
def mutated_text(draw, text: str) -> str:
    """Apply one to three structure-aware mutations to a CSV text."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    delim = max(DELIMS, key=lambda d: text.count(d)) if text else ","
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            lines = [""]
        cells = _cells(lines[i], delim)
        j = draw(st.integers(0, max(len(cells) - 1, 0)))
        kind = draw(st.sampled_from((
            "extra_field", "missing_field", "quote", "quote_cell", "huge", "huge_wkt",
            "huge_pair", "control", "long", "header", "delimiter", "newlines", "blank",
            "duplicate", "drop_line", "swap_lines", "unicode")))
        if kind in ("huge", "huge_wkt", "huge_pair") and i > 0 and draw(st.booleans()):
            # Aim at a coordinate column half the time (a huge number elsewhere is a string).
            names = [c.strip().strip('"').lower() for c in _cells(lines[0], delim)]
            wanted = [n for n, name in enumerate(names) if name in COORDINATE_NAMES]
            if wanted:
                j = min(draw(st.sampled_from(wanted)), max(len(cells) - 1, 0))
        if kind == "extra_field":
            cells.insert(j, draw(st.sampled_from(("", "x", '"', "1"))))
        elif kind == "missing_field" and len(cells) > 1:
            del cells[j]
        elif kind == "quote":
            cell = cells[j]
            at = draw(st.integers(0, len(cell)))
            cells[j] = cell[:at] + draw(st.sampled_from(('"', "'", '""', '"""'))) + cell[at:]
        elif kind == "quote_cell":
            inner = draw(st.sampled_from((delim, "\n", "\r\n", '""', delim + "\n")))
            cells[j] = '"' + cells[j] + inner + cells[j] + '"'
        elif kind == "huge":
            cells[j] = draw(st.sampled_from(HUGE_NUMBERS))
        elif kind == "huge_wkt":
            number = draw(st.sampled_from(HUGE_NUMBERS))
            cells[j] = draw(st.sampled_from((f'"POINT ({number} 49.0)"', f"POINT(-122.7 {number})",
                                             f'"POINT ({number} {number})"')))
        elif kind == "huge_pair":
            number = draw(st.sampled_from(HUGE_NUMBERS))
            cells[j] = draw(st.sampled_from((f'"{number}, -122.75"', f'"49.0, {number}"',
                                             f"({number} {number})")))
        elif kind == "control":
            cell = cells[j]
            at = draw(st.integers(0, len(cell)))
            cells[j] = cell[:at] + draw(st.sampled_from(CONTROL)) + cell[at:]
        elif kind == "long":
            cells[j] = draw(st.sampled_from(("x", "é", "a,b", '"'))) * draw(
                st.sampled_from((1000, 70_000, 200_000)))
        elif kind == "header":
            lines[0] = delim.join(draw(st.lists(st.sampled_from(ODD_HEADERS), min_size=1,
                                                max_size=8)))
            continue
        elif kind == "delimiter":
            other = draw(st.sampled_from([d for d in DELIMS if d != delim]))
            lines[i] = lines[i].replace(delim, other)
            continue
        elif kind == "newlines":
            newline = draw(st.sampled_from(("\n", "\r\n", "\r")))
            continue
        elif kind == "blank":
            lines.insert(i, draw(st.sampled_from(("", " ", delim * 3))))
            continue
        elif kind == "duplicate":
            lines.insert(i, lines[i])
            continue
        elif kind == "drop_line" and len(lines) > 1:
            del lines[i]
            continue
        elif kind == "swap_lines" and len(lines) > 2:
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
            continue
        elif kind == "unicode":
            cells[j] += draw(st.text(min_size=1, max_size=8))
        lines[i] = delim.join(cells)
    return newline.join(lines)


@st.composite
def corpus_files(draw) -> tuple[str, bytes]:
    """A file of the tests/data corpus, mutated, re-encoded and sometimes cut short."""
    name = draw(st.sampled_from(sorted(CORPUS)))
    text = decode(CORPUS[name])
    if draw(st.booleans()):
        text = draw(mutated_text(text))
    data = encode(text, draw(st.sampled_from(ENCODINGS)))
    if draw(st.integers(0, 9)) == 0:
        data = data[:draw(st.integers(0, len(data)))]  # cut anywhere, even mid-character
    return name, data


CSV_ALPHABET = st.sampled_from(list('latondexy,;|\t"\n\r 0123456789.-/:\x00') + ["é", "\ufeff"])
#: Pieces of small CSV files: the shortest column names, numbers, dates, delimiters, quotes.
TOKENS = st.sampled_from(("x", "y", "lat", "lon", "date", "point", "id", "1", "2", "49", "-95",
                          "2025", "2024-1-1", "1/2/25", "POINT(1 2)", ",", ",", ";", "\t",
                          "\n", "\n", "\r\n", "\r", '"', " ", "", "\x00"))
#: Files of at most 16 bytes: headers without rows, a row without a header, stray bytes.
tiny_files = st.one_of(
    st.binary(max_size=16),
    st.text(CSV_ALPHABET, max_size=16).map(lambda t: t.encode("utf-8")[:16]),
    st.lists(TOKENS, max_size=12).map(lambda t: "".join(t).encode("utf-8")[:16]),
    st.lists(TOKENS, max_size=12).map(lambda t: "x,y,date\n" + "".join(t)).map(
        lambda t: t.encode("utf-8")[:16]),
    st.sampled_from([b"lat,lon,date", b"lat,lon,date\n", b"lat,lon,date\n1", b"lat,lon\n1,2\n",
                     b'"', b'"\n"', b"\xef\xbb\xbf", b"\xff\xfe", b"\xff\xfel\x00", b"\n\n\n",
                     b",,,\n,,,\n", b"a\nb\nc\nd\ne\nf", b"location\n1 2\n", b"x,y\n1,2\n3,4"]),
)


# --- good files with one damaged record (with an oracle) --------------------------------------

POINTS = ((49.0021, -122.7566), (48.99, -122.48), (45.01, -73.45), (45.0093, -73.4525))
#: header, the kind of location cells, and the index of the first text cell.
SCHEMAS = {
    "latlon": (["id", "lat", "lon", "date", "type", "count", "direction", "description"], 7),
    "wkt": (["location", "date", "notes"], 2),
    "pair": (["coordinates", "date", "type", "description"], 3),
}
DAMAGE = ("none", "extra_field", "missing_field", "unclosed_quote", "huge_number", "control",
          "long_field")


@dataclass(frozen=True)
class GoodFile:
    """A file of `rows` importable records, of which record `damaged` (0-based) got `damage`."""

    data: bytes
    rows: int
    damage: str
    damaged: int
    encoding: str

    def __repr__(self) -> str:
        return (f"GoodFile(damage={self.damage!r}, damaged={self.damaged}, rows={self.rows}, "
                f"encoding={self.encoding!r}, {show(self.data)})")

    def _repr_pretty_(self, printer, cycle):  # hypothesis prints falsifying examples with it
        printer.text(repr(self))


def _quote(cell: str, delim: str) -> str:
    if any(ch in cell for ch in (delim, '"', "\n", "\r")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def good_files(draw) -> GoodFile:
    schema = draw(st.sampled_from(sorted(SCHEMAS)))
    header, text_at = SCHEMAS[schema]
    delim = draw(st.sampled_from(DELIMS))
    n = draw(st.integers(3, 12))
    start = draw(st.integers(0, 10_000))
    records = []
    for i in range(n):
        lat, lon = POINTS[i % len(POINTS)]
        lat, lon = round(lat + (start + i) * 1e-6, 6), round(lon - (start + i) * 1e-6, 6)
        day = f"2025-{1 + i % 12:02d}-{1 + (start + i) % 28:02d}"
        if schema == "latlon":
            cells = [f"S{start}-{i}", str(lat), str(lon), day, "sighting", str(1 + i % 3),
                     "northbound", f"row {i}"]
        elif schema == "wkt":
            cells = [f"POINT ({lon} {lat})", day, f"note {i}"]
        else:
            cells = [f"{lat}, {lon}", day, "apprehension", f"row {i} Caf\u00e9"]
        records.append(cells)
    damage = draw(st.sampled_from(DAMAGE))
    k = draw(st.integers(0, n - 1))
    rendered = [[_quote(c, delim) for c in cells] for cells in records]
    row = rendered[k]
    if damage == "extra_field":  # the stray delimiter the brief calls "a stray comma"
        at = draw(st.integers(1, len(row)))
        row.insert(at, draw(st.sampled_from(("", "x"))))
    elif damage == "missing_field":
        del row[draw(st.integers(0, len(row) - 1))]
    elif damage == "unclosed_quote":
        at = draw(st.integers(0, len(row) - 1))
        row[at] = '"' + row[at].strip('"')
    elif damage == "huge_number":
        number = draw(st.sampled_from(HUGE_NUMBERS[:6]))
        if schema == "latlon":
            row[draw(st.sampled_from((1, 2)))] = number
        elif schema == "wkt":
            lat, lon = POINTS[k % len(POINTS)]
            row[0] = draw(st.sampled_from((f"POINT ({number} {lat})", f"POINT ({lon} {number})")))
        else:
            lat, lon = POINTS[k % len(POINTS)]
            row[0] = _quote(draw(st.sampled_from((f"{number}, {lon}", f"{lat}, {number}"))), delim)
    elif damage == "control":
        char = draw(st.sampled_from(("\x00", "\x01", "\x1b", "\x7f", "\x85", "\u2028", "\x0b")))
        row[text_at] = _quote(records[k][text_at] + char + "x", delim)
    elif damage == "long_field":
        row[text_at] = "y" * draw(st.sampled_from((5_000, 100_000)))
    newline = draw(st.sampled_from(("\n", "\r\n")))
    text = newline.join([delim.join(header)] + [delim.join(r) for r in rendered]) + newline
    encoding = draw(st.sampled_from(("utf-8", "utf-8-sig", "utf-16", "cp1252")))
    return GoodFile(encode(text, encoding), n, damage, k, encoding)


# --- import options ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportCase:
    """One import: the file, the target (an existing dataset or a new one) and the options."""

    data: bytes
    existing: bool
    mode: str = "append"
    strict: bool = False
    publish: bool = False
    extra: tuple = ()
    filename: str = "upload.csv"
    multipart: bool = False
    oracle: GoodFile | None = None
    label: str = ""

    def __repr__(self) -> str:
        fields = [f"label={self.label!r}", show(self.data)] if self.oracle is None \
            else [repr(self.oracle)]
        fields += [f"existing={self.existing}", f"mode={self.mode!r}", f"strict={self.strict}",
                   f"publish={self.publish}", f"extra={self.extra!r}",
                   f"filename={self.filename!r}", f"multipart={self.multipart}"]
        return "ImportCase(" + ", ".join(fields) + ")"

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self))


def show(data: bytes, limit: int = 2000) -> str:
    """A file's bytes for a failure report: the decoded text when it decodes (UTF-16 is
    unreadable as bytes), and the bytes when they are short or do not decode."""
    text = decode(data)
    if len(data) <= 64 or text.encode("utf-8", "surrogatepass") == data:
        out = f"data={data[:limit]!r}"
    else:
        out = f"size={len(data)}, text={text[:limit]!r}"
    return out + ("..." if len(data) > limit else "")


NO_HEADER = (("no_header", "1"), ("map_lat", "1"), ("map_lon", "2"), ("map_occurred_at", "3"))
EXTRA_OPTION = st.sampled_from((
    ("crs", "EPSG:3978"), ("crs", "nonsense"), ("crs", "EPSG:" + HUGE[:30]),
    ("no_header", "1"), ("map_lat", "1"), ("map_lon", "2"), ("map_occurred_at", "3"),
    ("map_lat", "99"), ("map_location", "coordinates"), ("map_lat", "\x00"),
    ("mode", "sideways"), ("strict", "maybe"), ("title", "t" * 400), ("title", "Ti\x00tle"),
    ("map", "lat"), ("map", "nope=1")))
#: Mostly none: most options refuse the request at the door, before the file is read.
EXTRA_OPTIONS = st.one_of(st.just(()), st.just(()), st.just(()), st.just(NO_HEADER),
                          st.lists(EXTRA_OPTION, min_size=1, max_size=2).map(tuple))
FILENAMES = st.one_of(st.just("upload.csv"), st.just("upload.csv"), st.sampled_from((
    "../../etc/passwd", "a\x00b.csv", "é.csv", "x" * 1000 + ".csv", "", "<b>.csv", "c:\\x.csv")),
    st.text(max_size=20))


def import_cases(files, *, label: str = "", options: bool = True):
    """Import cases around a strategy of files (bytes, or GoodFile with an oracle)."""
    @st.composite
    def build(draw):
        drawn = draw(files)
        oracle = drawn if isinstance(drawn, GoodFile) else None
        name = label
        if isinstance(drawn, tuple):
            name, drawn = drawn
        data = oracle.data if oracle else drawn
        if oracle is not None or not options:
            # Good files are checked against their oracle: plain options, never strict.
            return ImportCase(data, existing=draw(st.booleans()), oracle=oracle, label=name,
                              multipart=draw(st.booleans()))
        return ImportCase(data, existing=draw(st.booleans()),
                          mode=draw(st.sampled_from(("append", "append", "replace"))),
                          strict=draw(st.booleans()), publish=draw(st.booleans()),
                          extra=draw(EXTRA_OPTIONS), filename=draw(FILENAMES),
                          multipart=draw(st.booleans()), label=name)
    return build()


# --- checking responses -----------------------------------------------------------------------

JSON_PREFIXES = ("/api/", "/oembed", "/healthz")


def _describe(method: str, url: str, response, env: Env) -> str:
    body = response.get_data()
    text = body[:600].decode("utf-8", "replace")
    if response.mimetype == "text/html":
        text = _message(response) or text  # the page's message, not its navigation
    out = f"{method} {url!r} -> {response.status_code} {response.mimetype}: {text}"
    if response.status_code >= 500 and env.tracebacks.last:
        out += "\n--- app traceback ---\n" + env.tracebacks.last[1]
    return out


def check_response(env: Env, method: str, url: str, response, *, json_errors: bool,
                   note: str = "") -> None:
    """No 5xx, the body can be read, and a 4xx carries a message in the endpoint's format."""
    try:
        response.get_data()  # streamed downloads run their generator here
    except Exception as exc:  # noqa: BLE001 - any exception while streaming is a defect
        fail(f"exception while streaming {type(exc).__name__}",
             f"{method} {url!r}: reading the body raised {exc!r}")
    status = response.status_code
    if status == 501 and url.startswith("/oembed"):
        status = 400  # oEmbed 1.0 answers an unsupported format with 501: a refusal, not a crash
    if status >= 500:
        kind = env.tracebacks.last[0] if env.tracebacks.last else "no traceback"
        fail(f"{status} on {method} {_route(url)}: {kind}",
             note + " " + _describe(method, url, response, env))
    if status >= 400:
        if json_errors:
            try:
                message = response.get_json(force=True)["error"]["message"]
            except Exception:  # noqa: BLE001
                message = None
            if not (isinstance(message, str) and message.strip()):
                fail(f"{status} without JSON message on {_route(url)}",
                     _describe(method, url, response, env))
        elif response.mimetype != "text/html" or not response.get_data().strip():
            fail(f"{status} without HTML page on {_route(url)}",
                 _describe(method, url, response, env))


def _route(url: str) -> str:
    """The route of a URL with slugs and queries blanked (part of failure signatures)."""
    path = url.split("?", 1)[0]
    path = re.sub(r"^/(maps|embed)/[^/]*?(\.png)?$", r"/\1/<slug>\2", path)
    path = re.sub(r"^/api/datasets/[^/]+", "/api/datasets/<slug>", path)
    path = re.sub(r"^/upload/[^/]+/imports/\d+", "/upload/<slug>/imports/<id>", path)
    return path


# --- import properties ------------------------------------------------------------------------

def _post_api(env: Env, slug: str, case: ImportCase):
    params = [("mode", case.mode)]
    if case.strict:
        params.append(("strict", "1"))
    if case.publish:
        params.append(("publish", "1"))
    params += list(case.extra)
    url = f"/api/datasets/{slug}/incidents?" + urlencode(params)
    if case.multipart:
        return url, env.client.post(url, data={"file": (io.BytesIO(case.data), case.filename)},
                                    headers=env.auth, content_type="multipart/form-data")
    return url, env.client.post(url, data=case.data,
                                headers={**env.auth, "Content-Type": "text/csv"})


def _target(env: Env, case: ImportCase) -> str:
    return BASE_SLUG if case.existing else env.fresh_slug()


def _with_example(check):
    """Add the import case (file text, options) to a failure's message."""
    def wrapped(env: Env, case: ImportCase) -> str:
        try:
            return check(env, case)
        except Failure as failure:
            raise type(failure)(f"{failure}\n  example: {case!r}") from None

    wrapped.__name__ = check.__name__
    wrapped.__doc__ = check.__doc__
    return wrapped


@_with_example
def check_api_import(env: Env, case: ImportCase) -> str:
    """POST the file to the write API; check the response and what was written."""
    slug = _target(env, case)
    before, state = fingerprint(env), dataset_state(env, slug)
    env.tracebacks.last = None
    url, response = _post_api(env, slug, case)
    _failed_wrote_nothing(env, before, f"POST {url}", response)
    check_response(env, "POST", url, response, json_errors=True)
    if response.status_code >= 400:
        return _refused(env, before, f"POST {url}", response, case)
    report = response.get_json()
    _check_accepted(env, slug, state, case, report, f"POST {url}")
    expected = 201 if report["rows_imported"] + report["rows_updated"] > 0 else 200
    if response.status_code != expected:
        fail("wrong status for the report", f"POST {url}: {response.status_code}, report "
             f"{report}")
    return _outcome(env, report)


@_with_example
def check_form_import(env: Env, case: ImportCase) -> str:
    """Upload the file with the form (preview), then import it; check both steps."""
    slug = _target(env, case)
    fields = {"action": "preview", "mode": case.mode, "title": "Fuzzed",
              "file": (io.BytesIO(case.data), case.filename or "x.csv")}
    if case.existing:
        fields["dataset"] = slug
    else:
        fields.update(dataset="__new__", new_slug=slug)
    for flag in ("strict", "publish"):
        if getattr(case, flag):
            fields[flag] = "on"
    for name, value in case.extra:
        fields[name] = value
    before, state = fingerprint(env), dataset_state(env, slug)
    env.tracebacks.last = None
    preview = env.editor.post("/upload", data=fields, content_type="multipart/form-data")
    check_response(env, "POST", "/upload (preview)", preview, json_errors=False)
    if fingerprint(env) != before:
        fail("preview wrote to the database", _describe("POST", "/upload", preview, env))
    if preview.status_code >= 400:
        check_refused_oracle(case, preview)
        return _outcome_refused(env, "preview refused", preview)
    page = preview.get_data(as_text=True)
    hidden = {m.group(1): html.unescape(m.group(2)) for m in re.finditer(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}
    if hidden.get("action") != "import" or not re.fullmatch(r"[0-9a-f]{64}",
                                                            hidden.get("sha256", "")):
        fail("preview without import form", _describe("POST", "/upload", preview, env))
    response = env.editor.post("/upload", data=hidden)
    _failed_wrote_nothing(env, before, "POST /upload (import)", response)
    check_response(env, "POST", "/upload (import)", response, json_errors=False)
    if response.status_code >= 400:
        return _refused(env, before, "POST /upload (import)", response, case)
    location = response.headers.get("Location", "")
    match = re.fullmatch(rf"/upload/{re.escape(slug)}/imports/(\d+)", location)
    if response.status_code != 302 or not match:
        fail("form import did not redirect to its report",
             _describe("POST", "/upload (import)", response, env))
    shown = env.editor.get(location)
    check_response(env, "GET", location, shown, json_errors=False)
    if shown.status_code != 200:
        fail("report page not shown", _describe("GET", location, shown, env))
    record = import_record(env, int(match.group(1)))
    report = dict(record["report"] or {})
    _check_accepted(env, slug, state, case, report, "POST /upload (import)")
    return _outcome(env, report)


def _failed_wrote_nothing(env: Env, before: tuple, request: str, response) -> None:
    """A crashed import (5xx) must have rolled back everything, like a refused one."""
    if response.status_code >= 500 and fingerprint(env) != before:
        fail("failed import wrote", f"{request} -> {response.status_code} but the database "
             f"changed: {before} -> {fingerprint(env)}")


def _refused(env: Env, before: tuple, request: str, response, case: ImportCase) -> str:
    after = fingerprint(env)
    if after != before:
        fail("refused import wrote", f"{request} -> {response.status_code} but the database "
             f"changed: (incidents, imports, datasets, sum of versions, published) {before} -> "
             f"{after}\n{response.get_data()[:400]!r}")
    check_refused_oracle(case, response)
    return _outcome_refused(env, "refused", response)


def _outcome_refused(env: Env, label: str, response) -> str:
    env.outcomes[label] += 1
    env.refusals[_message(response)[:50]] += 1
    return label


def _message(response) -> str:
    """The error message of a JSON error or of an HTML page (form flash or error page)."""
    if response.is_json:
        return str((response.get_json().get("error") or {}).get("message", ""))
    match = re.search(r'class="(?:flash flash-error|error-message)"[^>]*>([^<]*)<',
                      response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else ""


def _outcome(env: Env, report: dict) -> str:
    accepted = report["rows_imported"] + report["rows_updated"] + report["rows_unchanged"]
    label = "imported rows" if accepted else "accepted, no rows"
    if report["rows_rejected"]:
        env.outcomes["some rows rejected"] += 1
    env.outcomes[label] += 1
    return label


def _check_accepted(env: Env, slug: str, state: dict | None, case: ImportCase, report: dict,
                    request: str) -> None:
    """An accepted import wrote exactly what its report says, to its dataset, once."""
    after = dataset_state(env, slug)
    where = f"{request}: report {_short(report)}; before {state}; after {after}"
    if after is None:
        fail("accepted import left no dataset", where)
    counts = [report.get(k) for k in ("rows_total", "rows_imported", "rows_updated",
                                      "rows_unchanged", "rows_rejected")]
    if not all(isinstance(c, int) and c >= 0 for c in counts):
        fail("report counts missing", where)
    total, imported, updated, unchanged, rejected = counts
    if total != imported + updated + unchanged + rejected:
        fail("report counts do not add up", where)
    base = 0 if state is None or case.mode == "replace" else state["count"]
    if after["count"] != base + imported:
        fail("incidents written differ from the report", where)
    if after["imports"] != (state["imports"] if state else 0) + 1:
        fail("import not recorded once", where)
    if report.get("version") != after["version"]:
        fail("report version is not the dataset's", where)
    if state is not None:
        changed = imported + updated > 0
        if after["version"] not in (state["version"], state["version"] + 1) or (
                changed and after["version"] != state["version"] + 1):
            fail("version not bumped once", where)
    if case.oracle is not None:
        _check_oracle(case.oracle, report, where)


def _check_oracle(good: GoodFile, report: dict, where: str) -> None:
    accepted = report["rows_imported"] + report["rows_updated"] + report["rows_unchanged"]
    rows, damage = good.rows, good.damage
    if damage == "none":
        if accepted != rows or report["rows_rejected"]:
            fail("good file not imported whole", where)
    elif damage == "unclosed_quote":
        # A quote left open may swallow what follows, but the report must say so.
        if accepted < rows - 1 and not (report["rows_rejected"] and report["errors"]):
            fail("unclosed quote swallowed rows silently", where)
    elif accepted < rows - 1:
        fail(f"one damaged record ({damage}) cost other rows", where)


def _short(report: dict) -> dict:
    out = {k: v for k, v in report.items() if k not in ("errors", "warnings")}
    out["errors"] = report.get("errors", [])[:3]
    return out


def check_refused_oracle(case: ImportCase, response) -> None:
    """Good files with at most one damaged record must be accepted (never refused whole)."""
    if case.oracle is None:
        return
    if case.oracle.damage == "control" and case.oracle.encoding != "utf-16":
        return  # a NUL or other control byte may make the file look binary: refusing is fine
    if case.oracle.damage == "unclosed_quote":
        return  # refusing a file with an open quote (with a message) is a fair answer
    if response.status_code == 409 and "already imported" in _message(response):
        return  # the same file again in append mode is refused unless confirmed (#18)
    fail(f"good file refused ({case.oracle.damage})",
         f"{case!r} -> {response.status_code}: {response.get_data()[:400]!r}")


# --- filter queries on every public endpoint --------------------------------------------------

PUBLIC = ("/maps/{slug}", "/embed/{slug}", "/maps/{slug}.png", "/oembed",
          "/api/datasets/{slug}/incidents.csv", "/api/datasets/{slug}/incidents.geojson",
          "/api/datasets/{slug}/stats", "/api/datasets/{slug}", "/api/datasets", "/",
          "/api/regions/admin1.geojson", "/api/regions/{slug}.geojson")
OTHER_SLUGS = (THRESHOLD_SLUG, DRAFT_SLUG, "missing", "é", "a b", "x" * 300, "%00", "..",
               "base.png")
PARAM_NAMES = ("from", "to", "type", "direction", "country", "admin1", "sector", "layer", "by",
               "period", "theme", "per", "limit", "offset", "format", "maxwidth", "maxheight",
               "url", "simplify", "from", "to", "FROM", "to[]", "", "\x00", "é", "lang", "units")
VALUES = (
    "9999", "9999-12", "9999-12-31", "0000", "0001", "0001-01-01", "1969-12-31", "1970",
    "2025", "2025-01", "2025-01-03", "2025-02-29", "2024-02-29", "2025-13", "2025-00-10",
    "10000", "99999-01-01", "2025-1-3", "-1", "0", "1", "100", "2000", "100000", "100001",
    "1e309", "NaN", "nan", "inf", "-inf", HUGE, "18446744073709551616", "", " ", "\x00",
    "a\x00b", "\r\n", "\n", "é", "𝕏", "\u202e", "<script>", "' OR 1=1 --", "US-WA", "us_wa",
    "CA-BC", "US", "CA", "BLW", "Blaine", "north", "S", "sighting", "apprehension",
    "choropleth", "heat", "cluster", "time", "border_segment", "segment", "sector", "admin1",
    "month", "week", "light", "dark", "border_mile", "count", "json", "xml", "none", "low",
    "high", "fr", "en", "fr-CA", "fr_ca", "de", "km", "mi", "miles", "KM",
)
VALUE = st.one_of(st.sampled_from(VALUES), st.text(max_size=12),
                  st.integers(-10**20, 10**20).map(str))
DATE_VALUE = st.one_of(
    st.sampled_from(("9999", "9999-12", "9999-12-31", "0000", "0001-01-01", "1900-02-29",
                     "2024-02-29", "2025-02-29", "2025-12-31", "10000-01-01", "2025-01-03")),
    st.tuples(st.integers(0, 10_000), st.integers(0, 13), st.integers(0, 32)).map(
        lambda t: "-".join([f"{t[0]:04d}", f"{t[1]:02d}", f"{t[2]:02d}"][:1 + t[0] % 3])),
    VALUE)
#: A pair: dates get their own values half the time (their edges are where parsing breaks).
PAIR = st.one_of(st.tuples(st.sampled_from(("from", "to")), DATE_VALUE),
                 st.tuples(st.sampled_from(PARAM_NAMES), VALUE))
RAW_TAILS = ("", "", "", "&%zz", "&to=%ff%fe", "&&=&", "&from", "&%00=%00", "&to=9999&to=9999",
             "&from=2025&from=2026", "&type=" + "t" * 200)


@dataclass(frozen=True)
class Query:
    endpoint: str
    slug: str
    pairs: tuple
    raw_tail: str
    editor: bool
    inner: tuple = ()  # oEmbed: the query of the map URL it is asked about
    inner_path: str = "maps"

    def url(self) -> str:
        path = self.endpoint.format(slug=quote(self.slug, safe=""))
        pairs = list(self.pairs)
        if self.endpoint == "/oembed":
            inner = urlencode(list(self.inner))
            target = f"http://localhost/{self.inner_path}/{quote(self.slug, safe='')}"
            pairs.insert(0, ("url", target + ("?" + inner if inner else "")))
        query = urlencode(pairs) + self.raw_tail
        return path + ("?" + query.lstrip("&") if query.strip("&") else "")


@st.composite
def queries(draw) -> Query:
    endpoint = draw(st.sampled_from(PUBLIC))
    pairs = tuple(draw(st.lists(PAIR, max_size=6)))
    inner = ()
    if endpoint == "/oembed":
        inner = tuple(draw(st.lists(PAIR, max_size=4)))
    # The dataset with rows most of the time: other slugs stop at 404 before the filters.
    slug = BASE_SLUG if draw(st.integers(0, 9)) < 7 else draw(st.sampled_from(OTHER_SLUGS))
    return Query(endpoint, slug, pairs, draw(st.sampled_from(RAW_TAILS)),
                 draw(st.integers(0, 4)) == 0, inner,
                 draw(st.sampled_from(("maps", "embed", "maps", "x"))))


def check_query(env: Env, query: Query) -> str:
    url = query.url()
    client = env.editor if query.editor else env.client
    env.tracebacks.last = None
    response = client.get(url)
    path = url.split("?", 1)[0]
    json_errors = path.startswith(JSON_PREFIXES) or path.endswith((".json", ".geojson"))
    check_response(env, "GET", url, response, json_errors=json_errors)
    status = response.status_code
    if status == 200:
        kind = {".png": "image/png", ".csv": "text/csv",
                ".geojson": "application/geo+json"}.get(Path(path).suffix)
        if kind and response.mimetype != kind:
            fail(f"200 with wrong type on {_route(url)}", _describe("GET", url, response, env))
        if kind == "image/png" and not response.get_data().startswith(b"\x89PNG"):
            fail("PNG body is not a PNG", _describe("GET", url, response, env))
    # oEmbed's 501 for an unknown format is a refusal (see check_response).
    label = "200" if status == 200 else "4xx" if status < 500 or status == 501 else "5xx"
    env.outcomes[f"query {label}"] += 1
    return label


# --- sign-in ``next`` ---------------------------------------------------------------------------

NEXT_VALUES = st.one_of(
    st.sampled_from(("/", "/maps/base", "/a\nb", "/a\rb", "/\r\nSet-Cookie: x=1", "/a\x00b",
                     "//evil.example", "/\\evil.example", "http://evil.example/", "/%0d%0a",
                     "\t/x", " /x", "/é", "/𝕏", "/" + "a" * 5000, "/a\x1bb", "/a\x7fb",
                     "/a\u2028b", "/?next=//evil", "javascript:alert(1)", "")),
    st.text(max_size=20).map(lambda t: "/" + t),
    st.text(max_size=20),
)


def check_signin_next(env: Env, target: str) -> str:
    """The login page with ``next``, then a correct sign-in: a local, clean redirect."""
    address = env.fresh_address()
    client = env.app.test_client()
    url = "/auth/login?" + urlencode({"next": target})
    env.tracebacks.last = None
    page = client.get(url, environ_base={"REMOTE_ADDR": address})
    check_response(env, "GET", url, page, json_errors=False)
    env.tracebacks.last = None
    response = client.post("/auth/login", data={"name": USER, "password": PASSWORD,
                                                "next": target},
                           environ_base={"REMOTE_ADDR": address})
    check_response(env, "POST", "/auth/login", response, json_errors=False, note=f"next={target!r}")
    if response.status_code != 302:
        fail("sign-in did not redirect", _describe("POST", "/auth/login", response, env))
    location = response.headers.get("Location", "")
    if (not location.startswith("/") or location.startswith("//") or "\\" in location
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in location)):
        fail("sign-in redirect is not a clean local path",
             f"next={target!r} -> Location {location!r}")
    env.outcomes["signed in"] += 1
    return "signed in"


# --- hypothesis profiles ----------------------------------------------------------------------

#: Selects the profile of tests/test_fuzz_http.py: ``ci`` (default: bounded, derandomized, no
#: shrinking so a failure costs no extra imports) or ``dev`` (10x the examples, random seeds,
#: shrinking to a minimal example). bench/fuzz.py runs longer with its own settings.
PROFILE_ENV = "GEOMAP_FUZZ_PROFILE"


def _register_profiles() -> None:
    from hypothesis import HealthCheck, Phase, settings

    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
             HealthCheck.filter_too_much]
    settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                              database=None, suppress_health_check=quiet,
                              phases=[Phase.explicit, Phase.reuse, Phase.generate])
    settings.register_profile("dev", parent=settings.get_profile("ci"), max_examples=1000,
                              derandomize=False, phases=list(Phase))


_register_profiles()


def profile_settings(weight: float):
    """Settings of the selected profile with ``weight`` times its number of examples."""
    import os

    from hypothesis import settings

    profile = settings.get_profile(os.environ.get(PROFILE_ENV, "ci"))
    return settings(profile, max_examples=max(1, round(profile.max_examples * weight)))
