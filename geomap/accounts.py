"""Editors and API tokens: hashed passwords and hashed bearer tokens."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash, generate_password_hash

from . import db
from .errors import BadRequest, Conflict, NotFound
from .storage import utcnow

MIN_PASSWORD = 8
TOKEN_PREFIX = "gm_"
#: Sign-in attempts allowed per client address: (window in seconds, attempts per window).
LOGIN_LIMITS = ((60, 10), (3600, 50))


def create_user(conn: sa.Connection, name: str, password: str) -> int:
    """Create an editor with a hashed password; return the user id."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise BadRequest("user name must be 1-100 characters", details={"name": name})
    if len(password or "") < MIN_PASSWORD:
        raise BadRequest(f"password must be at least {MIN_PASSWORD} characters")
    if conn.execute(sa.select(db.users.c.id).where(db.users.c.name == name)).first():
        raise Conflict(f"user {name!r} already exists")
    return conn.execute(sa.insert(db.users).values(
        name=name, password_hash=generate_password_hash(password), created_at=utcnow())
        .returning(db.users.c.id)).scalar_one()


def check_login(conn: sa.Connection, name: str, password: str) -> dict | None:
    """Return the user when name and password match, else None."""
    row = conn.execute(sa.select(db.users).where(db.users.c.name == name)).mappings().first()
    if row is None or not check_password_hash(row["password_hash"], password or ""):
        return None
    return dict(row)


def count_login_attempt(conn: sa.Connection, address: str, now: float,
                        limits=LOGIN_LIMITS) -> bool:
    """Count one sign-in attempt from address; return whether it is within every limit.

    Windows are fixed (aligned to multiples of their length), so a burst straddling a
    boundary can reach twice a limit. Counters older than the longest window are deleted.
    """
    table = db.login_attempts
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    address = (address or "unknown")[:64]
    allowed = True
    for span, limit in limits:
        start = int(now) // span * span
        upsert = dialect.insert(table).values(address=address, span=span, window_start=start,
                                              hits=1)
        hits = conn.execute(upsert.on_conflict_do_update(
            index_elements=[table.c.address, table.c.span, table.c.window_start],
            set_={"hits": table.c.hits + 1}).returning(table.c.hits)).scalar_one()
        allowed = allowed and hits <= limit
    longest = max(span for span, _limit in limits)
    conn.execute(sa.delete(table).where(table.c.window_start < int(now) - longest))
    return allowed


def _digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough; no salt or KDF is needed.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: sa.Connection, name: str, user_name: str | None = None) -> str:
    """Create an API token, store only its hash and return the token (shown once)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise BadRequest("token name must be 1-100 characters", details={"name": name})
    user_id = None
    if user_name:
        user_id = conn.execute(sa.select(db.users.c.id)
                               .where(db.users.c.name == user_name)).scalar()
        if user_id is None:
            raise NotFound(f"no user {user_name!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(sa.insert(db.api_tokens).values(
        name=name, user_id=user_id, token_hash=_digest(token), created_at=utcnow()))
    return token


def revoke_token(conn: sa.Connection, name: str) -> int:
    """Revoke every live token with this name; return how many were revoked."""
    t = db.api_tokens.c
    return conn.execute(sa.update(db.api_tokens).where(t.name == name, t.revoked_at.is_(None))
                        .values(revoked_at=utcnow())).rowcount


def check_token(conn: sa.Connection, token: str) -> dict | None:
    """Return the token row (with the owner's name) for a live token, else None."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    t, u = db.api_tokens.c, db.users.c
    row = conn.execute(
        sa.select(t.id, t.name, u.name.label("user_name"))
        .select_from(db.api_tokens.outerjoin(db.users, u.id == t.user_id))
        .where(t.token_hash == _digest(token), t.revoked_at.is_(None))).mappings().first()
    return dict(row) if row else None
