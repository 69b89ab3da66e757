"""Users and API tokens: hashed passwords, hashed bearer tokens, roles, disabling, sessions.

A session cookie carries its user's id and session generation; it is valid only while the
generation is still the user's (`session_actor`). Logout, a password change and disabling
advance it, which ends every session of that user on every device: sessions are signed
cookies with no server-side list, so a user's sessions can only be ended all together.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash, generate_password_hash

from . import db
from .access import OPERATOR, ROLES, Actor, actor_from
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .store import utcnow

MIN_PASSWORD = 8
TOKEN_PREFIX = "gm_"
#: Sign-in attempts allowed per client address: (window in seconds, attempts per window).
LOGIN_LIMITS = ((60, 10), (3600, 50))


def create_user(conn: sa.Connection, name: str, password: str, role: str = "editor") -> int:
    """Create a user (an editor unless role="admin") with a hashed password; return the id."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise BadRequest("user name must be 1-100 characters", details={"name": name})
    _check_password(password)
    _check_role(role)
    if conn.execute(sa.select(db.users.c.id).where(db.users.c.name == name)).first():
        raise Conflict(f"user {name!r} already exists")
    return conn.execute(sa.insert(db.users).values(
        name=name, password_hash=generate_password_hash(password), created_at=utcnow(),
        role=role).returning(db.users.c.id)).scalar_one()


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise BadRequest(f"password must be at least {MIN_PASSWORD} characters")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", details={"role": role})


def check_login(conn: sa.Connection, name: str, password: str) -> dict | None:
    """Return the user when name and password match and the user is enabled, else None."""
    row = conn.execute(sa.select(db.users).where(db.users.c.name == name)).mappings().first()
    if row is None or not check_password_hash(row["password_hash"], password or ""):
        return None
    if row["disabled_at"] is not None:
        return None
    return dict(row)


def session_actor(conn: sa.Connection, user_id, generation) -> Actor | None:
    """Return the user a session cookie names, or None if that session has ended.

    A session ends when its generation is no longer the user's (logout, password change,
    disabling) or the user is disabled or gone.
    """
    if not isinstance(user_id, int) or not isinstance(generation, int):
        return None  # a cookie from before generations, or a forged one
    u = db.users.c
    row = conn.execute(sa.select(u.id, u.name, u.role).where(
        u.id == user_id, u.session_generation == generation,
        u.disabled_at.is_(None))).mappings().first()
    return actor_from(row) if row else None


def end_sessions(conn: sa.Connection, user_id: int) -> None:
    """End every session of the user (advance their session generation)."""
    u = db.users.c
    conn.execute(sa.update(db.users).where(u.id == user_id)
                 .values(session_generation=u.session_generation + 1))


def _user(conn: sa.Connection, name: str) -> dict:
    row = conn.execute(sa.select(db.users).where(db.users.c.name == (name or "").strip())
                       ).mappings().first()
    if row is None:
        raise NotFound(f"no user {name!r}")
    return dict(row)


def set_password(conn: sa.Connection, name: str, password: str) -> None:
    """Change a user's password and end their sessions."""
    _check_password(password)
    user = _user(conn, name)
    conn.execute(sa.update(db.users).where(db.users.c.id == user["id"])
                 .values(password_hash=generate_password_hash(password)))
    end_sessions(conn, user["id"])


def change_own_password(conn: sa.Connection, actor: Actor, current: str, new: str) -> None:
    """A user changes their own password, proving the current one; all sessions end."""
    u = db.users.c
    stored = conn.execute(sa.select(u.password_hash).where(u.id == actor.id)).scalar()
    if stored is None or not check_password_hash(stored, current or ""):
        raise BadRequest("the current password is wrong", details={"field": "current"})
    set_password(conn, actor.name, new)


def _not_self(actor: Actor, user: dict, what: str) -> None:
    # An admin locking themselves out from the web would leave nobody to undo it there.
    if actor.id is not None and actor.id == user["id"]:
        raise BadRequest(f"you cannot {what} your own account; ask another admin")


def set_role(conn: sa.Connection, name: str, role: str, actor: Actor = OPERATOR) -> None:
    """Make a user an admin or an editor (not oneself: that is for another admin)."""
    _check_role(role)
    user = _user(conn, name)
    _not_self(actor, user, "change the role of")
    conn.execute(sa.update(db.users).where(db.users.c.id == user["id"]).values(role=role))


def set_disabled(conn: sa.Connection, name: str, disabled: bool,
                 actor: Actor = OPERATOR) -> None:
    """Disable a user (no sign-in, sessions ended, tokens refused) or enable them again."""
    user = _user(conn, name)
    _not_self(actor, user, "disable or enable")
    conn.execute(sa.update(db.users).where(db.users.c.id == user["id"])
                 .values(disabled_at=utcnow() if disabled else None))
    if disabled:
        end_sessions(conn, user["id"])


def list_users(conn: sa.Connection) -> list[dict]:
    """Return every user (name, role, created, disabled), without password hashes."""
    u = db.users.c
    return [dict(r) for r in conn.execute(
        sa.select(u.id, u.name, u.role, u.created_at, u.disabled_at).order_by(u.name)
    ).mappings()]


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


def revoke_token_id(conn: sa.Connection, actor: Actor, token_id: int) -> None:
    """Revoke one token: its own user's, or anyone's for an admin (else Forbidden)."""
    t = db.api_tokens.c
    row = conn.execute(sa.select(t.user_id, t.revoked_at).where(t.id == token_id)).first()
    if row is None:
        raise NotFound(f"no token {token_id}")
    if not actor.is_admin and (actor.id is None or row.user_id != actor.id):
        raise Forbidden("you may revoke only your own tokens")
    if row.revoked_at is None:
        conn.execute(sa.update(db.api_tokens).where(t.id == token_id)
                     .values(revoked_at=utcnow()))


def list_tokens(conn: sa.Connection, actor: Actor) -> list[dict]:
    """Return the actor's tokens (admins: everyone's), newest first, never their hashes."""
    t, u = db.api_tokens.c, db.users.c
    query = (sa.select(t.id, t.name, t.created_at, t.revoked_at, u.name.label("user_name"))
             .select_from(db.api_tokens.outerjoin(db.users, u.id == t.user_id))
             .order_by(t.id.desc()))
    if not actor.is_admin:
        query = query.where(t.user_id == actor.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def check_token(conn: sa.Connection, token: str) -> dict | None:
    """Return the live token (id, name, user_id, user_name, role), else None.

    A token of a disabled user is refused like a revoked one. A token with no user was
    made by the operator on the command line and acts as an admin (`access.OPERATOR`).
    """
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    t, u = db.api_tokens.c, db.users.c
    row = conn.execute(
        sa.select(t.id, t.name, t.user_id, u.name.label("user_name"), u.role, u.disabled_at)
        .select_from(db.api_tokens.outerjoin(db.users, u.id == t.user_id))
        .where(t.token_hash == _digest(token), t.revoked_at.is_(None))).mappings().first()
    if row is None or row["disabled_at"] is not None:
        return None
    return {k: row[k] for k in ("id", "name", "user_id", "user_name", "role")}


def token_actor(row: dict) -> Actor:
    """Return who a checked token acts for: its user, or the operator for a user-less one."""
    if row["user_id"] is None:
        return dataclasses.replace(OPERATOR, name=f"token:{row['name']}")
    return Actor(id=row["user_id"], name=row["user_name"], role=row["role"])
