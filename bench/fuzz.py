"""Fuzzing benchmark: the HTTP properties of tests/test_fuzz_http.py, run long with random seeds.

Each property (API import of mutated corpus files, of good files with one damaged record, of
tiny files; form preview and import; filter queries on every public endpoint; sign-in
``next``) runs in batches of fresh random examples against one app per backend, for its share
of ``--minutes`` or until ``--examples`` examples. A failure is shrunk by hypothesis to a
minimal example, printed once per signature (status and exception, or broken property), and
then stepped over (`fuzz_http.SKIP`) so the rest of the run can find defects behind it.

Prints, per backend and property: examples run (shrinking included), seconds, examples/s,
what the examples reached (imports with rows, refusals, 200s and 4xxs) and the failures
found with their minimal reproductions.

Usage: .venv/bin/python bench/fuzz.py [--minutes 10] [--examples N] [--batch 100]
       [--backend sqlite|postgresql|both] [--property NAME ...] [--pg URL]
PostgreSQL runs when --pg or GEOMAP_TEST_DATABASE_URL is set (a scratch database is created
and dropped).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import sqlalchemy as sa  # noqa: E402
from hypothesis import HealthCheck, Phase, Verbosity, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

import fuzz_http as fz  # noqa: E402
from conftest import make_app  # noqa: E402
from geomap import db  # noqa: E402

PROPERTIES = {
    "api-corpus": (lambda: fz.import_cases(fz.corpus_files()), fz.check_api_import),
    "api-good-files": (lambda: fz.import_cases(fz.good_files()), fz.check_api_import),
    "api-tiny": (lambda: fz.import_cases(fz.tiny_files, label="tiny"), fz.check_api_import),
    "form": (lambda: fz.import_cases(st.one_of(fz.corpus_files(), fz.good_files(),
                                               fz.tiny_files.map(lambda b: ("tiny", b)))),
             fz.check_form_import),
    "queries": (fz.queries, fz.check_query),
    "signin-next": (lambda: fz.NEXT_VALUES, fz.check_signin_next),
}


def _failures(exc: BaseException) -> list[tuple[str, str]]:
    """(signature, minimal example and message) of each failure hypothesis raised."""
    parts = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
    out = []
    for part in parts:
        # Hypothesis' notes: keep the falsifying example, drop the coverage explanation.
        notes = "\n".join(n for n in getattr(part, "__notes__", [])
                          if n.startswith(("Falsifying", "Failing")))
        signature = getattr(part, "signature", f"{type(part).__name__} (harness error)")
        message = str(part).split("\n--- app traceback ---")[0][:1500]
        traceback = str(part).partition("\n--- app traceback ---\n")[2]
        last = traceback.strip().splitlines()[-4:] if traceback else []
        out.append((signature, f"{notes}\n  {message}" + (
            "\n  traceback (last lines):\n    " + "\n    ".join(last) if last else "")))
    return out


def run_property(env, name: str, seconds: float, max_examples: int, batch: int) -> dict:
    make_strategy, check = PROPERTIES[name]
    strategy = make_strategy()
    counted = {"n": 0}
    found: dict[str, str] = {}
    start = time.perf_counter()
    env.outcomes.clear()
    while time.perf_counter() - start < seconds and counted["n"] < max_examples:
        @settings(max_examples=min(batch, max_examples - counted["n"]), deadline=None,
                  database=None, derandomize=False, phases=list(Phase),
                  verbosity=Verbosity.normal, report_multiple_bugs=True,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def prop(example):
            counted["n"] += 1
            check(env, example)

        try:
            prop()
        except Unsatisfiable:
            pass  # every example hit a signature already found: a new batch, a new seed
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and stepped over
            for signature, text in _failures(exc):
                if signature not in found:
                    found[signature] = text
                fz.SKIP.add(signature)
    elapsed = time.perf_counter() - start
    return {"examples": counted["n"], "seconds": elapsed, "found": found,
            "outcomes": dict(env.outcomes)}


def _pg_database(base: str):
    url = sa.make_url(base)
    name = f"geomap_fuzz_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="total time, shared equally by backends and properties")
    parser.add_argument("--examples", type=int, default=10**9,
                        help="at most this many examples per property and backend")
    parser.add_argument("--batch", type=int, default=100,
                        help="examples per hypothesis run (each run has a new random seed)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--property", action="append", choices=sorted(PROPERTIES),
                        help="run only these properties (repeatable)")
    parser.add_argument("--pg", default=os.environ.get("GEOMAP_TEST_DATABASE_URL"))
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.pg:
        print("PostgreSQL skipped: set --pg or GEOMAP_TEST_DATABASE_URL")
        backends.remove("postgresql")
    names = args.property or list(PROPERTIES)
    share = args.minutes * 60 / max(1, len(backends) * len(names))
    all_found: dict[str, tuple[str, str]] = {}
    print(f"fuzz: {len(names)} properties x {backends}, {share:.0f} s each, "
          f"batches of {args.batch}, at most {args.examples} examples each")
    for backend in backends:
        fz.SKIP.clear()
        with tempfile.TemporaryDirectory() as tmp:
            drop = None
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/fuzz.sqlite"
            else:
                url, drop = _pg_database(args.pg)
            app = make_app(Path(tmp), DATABASE_URL=url)
            env = fz.make_env(app)
            try:
                print(f"\n[{backend}]")
                print(f"  {'property':<16}{'examples':>9}{'seconds':>9}{'ex/s':>8}"
                      f"{'failures':>10}  reached")
                for name in names:
                    result = run_property(env, name, share, args.examples, args.batch)
                    rate = result["examples"] / result["seconds"] if result["seconds"] else 0
                    reached = ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items()))
                    print(f"  {name:<16}{result['examples']:>9}{result['seconds']:>9.1f}"
                          f"{rate:>8.1f}{len(result['found']):>10}  {reached}", flush=True)
                    for signature, text in result["found"].items():
                        all_found.setdefault(f"{backend}: {signature}", (name, text))
            finally:
                env.close()
                db.dispose_engine(url)
                if drop is not None:
                    drop()
    print(f"\nfailures: {len(all_found)} distinct signature(s)")
    for key, (name, text) in all_found.items():
        print(f"\n=== {key}  (property {name})\n{text}")


if __name__ == "__main__":
    main()
