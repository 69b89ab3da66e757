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
