"""Editors and API tokens are stored hashed."""

import pytest
import sqlalchemy as sa

from geomap import accounts, db
from geomap.errors import BadRequest, Conflict


def test_password_is_hashed_and_checked(conn):
    accounts.create_user(conn, "editor", "correct horse")
    stored = conn.execute(sa.select(db.users.c.password_hash)).scalar_one()
    assert "correct horse" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    assert accounts.check_login(conn, "editor", "correct horse")["name"] == "editor"
    assert accounts.check_login(conn, "editor", "wrong") is None
    assert accounts.check_login(conn, "nobody", "correct horse") is None


def test_user_rules(conn):
    with pytest.raises(BadRequest):
        accounts.create_user(conn, "short", "1234567")
    accounts.create_user(conn, "dup", "password1")
    with pytest.raises(Conflict):
        accounts.create_user(conn, "dup", "password2")


def test_token_hashed_checked_and_revoked(conn):
    accounts.create_user(conn, "editor", "password1")
    token = accounts.create_token(conn, "script", "editor")
    assert token.startswith("gm_") and len(token) > 40
    stored = conn.execute(sa.select(db.api_tokens.c.token_hash)).scalar_one()
    assert token not in stored
    assert accounts.check_token(conn, token)["user_name"] == "editor"
    assert accounts.check_token(conn, token + "x") is None
    assert accounts.revoke_token(conn, "script") == 1
    assert accounts.check_token(conn, token) is None


def _attempts(conn):
    t = db.login_attempts.c
    return {(r.span, r.window_start): r.hits for r in conn.execute(
        sa.select(t.span, t.window_start, t.hits).where(t.address == "203.0.113.7"))}


def test_login_attempts_counted_per_fixed_window(conn):
    now = 1_800_000_000 + 5  # 5 s into a minute (and an hour)
    results = [accounts.count_login_attempt(conn, "203.0.113.7", now + i) for i in range(11)]
    assert results == [True] * 10 + [False]
    assert accounts.count_login_attempt(conn, "198.51.100.1", now)  # another address
    # The next minute starts a new minute window; the hour keeps counting.
    assert accounts.count_login_attempt(conn, "203.0.113.7", now + 60)
    assert _attempts(conn) == {(60, now - 5): 11, (60, now + 55): 1, (3600, now - 5): 12}


def test_login_attempts_hourly_limit_and_expiry(conn):
    start = 1_800_000_000
    allowed = [accounts.count_login_attempt(conn, "203.0.113.7", start + 60 * (i // 5))
               for i in range(51)]  # 5 a minute: never over the minute limit
    assert allowed == [True] * 50 + [False]
    # Two hours later the old windows are gone and the address may sign in again.
    assert accounts.count_login_attempt(conn, "203.0.113.7", start + 7200)
    assert _attempts(conn) == {(60, start + 7200): 1, (3600, start + 7200): 1}
