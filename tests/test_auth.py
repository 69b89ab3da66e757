"""Login, logout, CSRF on the login form, and the write guards."""

import re
import time
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import sqlalchemy as sa
from flask import Blueprint, g

from geomap import accounts, db
from geomap.web.guards import login_required, token_required


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Sign-ins of one test fall in one fixed window (a test crossing a minute would not)."""
    from geomap.web import auth

    monkeypatch.setattr(auth, "clock", lambda: 1_800_000_005.0)


@pytest.fixture
def editor(app):
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        return accounts.create_token(conn, "script", "editor")


@pytest.fixture
def guarded(app_factory):
    """An app with two guarded test views."""
    bp = Blueprint("guarded", __name__)

    @bp.get("/form-only")
    @login_required
    def form_only():
        return f"hello {g.user_name}"

    @bp.post("/api/write")
    @token_required
    def write():
        return {"user": g.user_name}

    application = app_factory()
    application.register_blueprint(bp)
    with db.engine_for(application.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        token = accounts.create_token(conn, "script", "editor")
    return application, token


def test_login_logout_and_cookie_flags(client, editor):
    response = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                                "next": "/api/datasets"})
    assert response.status_code == 302 and response.headers["Location"] == "/api/datasets"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Sign out editor" in client.get("/").get_data(as_text=True)
    client.post("/auth/logout")
    assert "Sign out" not in client.get("/").get_data(as_text=True)


def test_wrong_password_is_401_and_says_so(client, editor):
    response = client.post("/auth/login", data={"name": "editor", "password": "nope"})
    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_login_never_redirects_off_site(client, editor, target):
    response = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                                "next": target})
    assert response.headers["Location"] == "/"


def test_login_is_rate_limited(client, editor):
    statuses = [client.post("/auth/login", data={"name": "editor", "password": "x"}).status_code
                for _ in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429


def test_login_form_requires_csrf_token(app_factory):
    application = app_factory(WTF_CSRF_ENABLED=True)
    client = application.test_client()
    response = client.post("/auth/login", data={"name": "a", "password": "b"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    forged = client.post("/auth/login", data={"name": "a", "password": "b",
                                              "csrf_token": "forged-token"})
    assert forged.status_code == 400 and "CSRF" in forged.get_data(as_text=True)
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/auth/login", data={"name": "a", "password": "b",
                                                "csrf_token": token})
    assert response.status_code == 401


def test_login_required_redirects_anonymous(guarded):
    application, _token = guarded
    client = application.test_client()
    response = client.get("/form-only")
    assert response.status_code == 302 and "/auth/login?next=/form-only" in response.headers["Location"]
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    assert client.get("/form-only").get_data(as_text=True) == "hello editor"


def test_token_required(guarded):
    application, token = guarded
    client = application.test_client()
    anonymous = client.post("/api/write")
    assert anonymous.status_code == 401 and anonymous.json["error"]["code"] == "unauthorized"
    wrong = client.post("/api/write", headers={"Authorization": f"Bearer {token}x"})
    assert wrong.status_code == 401
    ok = client.post("/api/write", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json == {"user": "editor"}
    with db.engine_for(application.config["DATABASE_URL"]).begin() as conn:
        accounts.revoke_token(conn, "script")
    assert client.post("/api/write", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_login_limit_is_shared_by_app_servers(tmp_path, database_url):
    """Two app processes on one database count one address's attempts together."""
    from conftest import make_app

    one = make_app(tmp_path / "one", DATABASE_URL=database_url)
    two = make_app(tmp_path / "two", DATABASE_URL=database_url)
    with db.engine_for(database_url).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    clients = [one.test_client(), two.test_client()]
    statuses = [clients[i % 2].post("/auth/login", data={"name": "editor", "password": "x"})
                .status_code for i in range(11)]
    assert statuses == [401] * 10 + [429]
    # Only the address is limited: another one may still sign in on either server.
    ok = clients[1].post("/auth/login", data={"name": "editor", "password": "s3cret-pass"},
                         environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert ok.status_code == 302


def test_login_counts_in_process_while_sqlite_is_locked(app, editor, monkeypatch, caplog):
    """A long import holding SQLite's write lock makes sign-in count locally, not fail."""
    import sqlite3

    from geomap.web import auth

    monkeypatch.setattr(auth, "COUNTER_WAIT_MS", 50)
    # The in-process fallback (the limits library) keeps real time: start well inside a
    # minute so the eleven attempts share one window.
    while time.time() % 60 > 45:
        time.sleep(0.5)
    holder = sqlite3.connect(app.config["DATABASE_URL"].removeprefix("sqlite:///"),
                             isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        client = app.test_client()
        statuses = [client.post("/auth/login", data={"name": "editor", "password": "x"})
                    .status_code for _ in range(11)]
        assert statuses == [401] * 10 + [429]
        assert "login counter busy" in caplog.text
    finally:
        holder.rollback()
        holder.close()
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.login_attempts)
                            ).scalar() == 0
    # With the lock gone the busy timeout is back to normal on the pooled connections.
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_MS


def _attempts_from(client, forwarded_for, n):
    return [client.post("/auth/login", data={"name": "editor", "password": "x"},
                        headers={"X-Forwarded-For": forwarded_for}).status_code
            for _ in range(n)]


def test_behind_a_proxy_each_client_has_its_own_limit(app_factory):
    application = app_factory(PROXY_HOPS=1)
    with db.engine_for(application.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    client = application.test_client()
    assert _attempts_from(client, "203.0.113.7", 11) == [401] * 10 + [429]
    assert _attempts_from(client, "198.51.100.9", 1) == [401]  # another reader of the proxy
    # Only the proxy's own hop is trusted: a forged first entry does not change the address.
    assert _attempts_from(client, "192.0.2.1, 203.0.113.7", 1) == [429]


def test_without_proxy_hops_forwarded_for_is_ignored(app_factory):
    application = app_factory()
    with db.engine_for(application.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    client = application.test_client()
    statuses = [_attempts_from(client, f"203.0.113.{i}", 1)[0] for i in range(11)]
    assert statuses == [401] * 10 + [429]  # forged addresses do not reset the limit


def test_session_cookie_is_secure_over_https(app_factory):
    """Secure follows the request's scheme, including the scheme a trusted proxy forwards."""
    application = app_factory(PROXY_HOPS=1)
    with db.engine_for(application.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    form = {"name": "editor", "password": "s3cret-pass"}

    def cookie(**kwargs):
        response = application.test_client().post("/auth/login", data=form, **kwargs)
        assert response.status_code == 302
        return response.headers["Set-Cookie"]

    assert "Secure" not in cookie()
    assert "Secure" in cookie(base_url="https://localhost")
    assert "Secure" in cookie(headers={"X-Forwarded-Proto": "https"})
    assert "HttpOnly" in cookie() and "SameSite=Lax" in cookie()


COOKIE = "geomap_session"


def _copied_session(app, name="editor", password="s3cret-pass"):
    """Sign in; return the client and a second client holding a copy of its cookie."""
    client = app.test_client()
    assert client.post("/auth/login", data={"name": name, "password": password}
                       ).status_code == 302
    thief = app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    assert thief.get("/editor/").status_code == 200  # the copy works while signed in
    return client, thief


def test_signout_ends_the_session_copied_cookie_is_anonymous(app, editor):
    client, thief = _copied_session(app)
    other_device, _ = _copied_session(app)
    client.post("/auth/logout")
    for replayed in (thief, other_device):  # logout ends every session of the user
        response = replayed.get("/editor/")
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
        assert "Sign out" not in replayed.get("/").get_data(as_text=True)
        assert replayed.post("/editor/datasets/x", data={}).status_code == 302
    # Signing in again gives a new session that works.
    fresh, _ = _copied_session(app)
    assert fresh.get("/editor/").status_code == 200


def test_signout_password_change_and_disabling_end_sessions(app, editor, runner):
    _client, thief = _copied_session(app)
    result = runner.invoke(args=["set-password", "editor", "--password-stdin"],
                           input="new-pass-word\n")
    assert result.exit_code == 0, result.output
    assert thief.get("/editor/").status_code == 302
    _client, thief = _copied_session(app, password="new-pass-word")
    assert runner.invoke(args=["disable-user", "editor"]).exit_code == 0
    assert thief.get("/editor/").status_code == 302


def test_signout_cookie_without_generation_is_anonymous(app, editor):
    """A cookie from before session generations (name only) no longer signs anyone in."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_name"] = "editor"
    assert client.get("/editor/").status_code == 302


def test_signout_on_own_password_change(app, editor):
    client, thief = _copied_session(app)
    wrong = client.post("/editor/password", data={"current": "nope", "new": "new-pass-word"},
                        follow_redirects=True)
    assert "the current password is wrong" in wrong.get_data(as_text=True)
    assert thief.get("/editor/").status_code == 200  # nothing changed
    changed = client.post("/editor/password", data={"current": "s3cret-pass",
                                                    "new": "new-pass-word"})
    assert changed.status_code == 302 and "/auth/login" in changed.headers["Location"]
    assert thief.get("/editor/").status_code == 302 and client.get("/editor/").status_code == 302
    _copied_session(app, password="new-pass-word")

#: Open-redirect payloads: each is, or becomes in some browser, a URL on another host.
OPEN_REDIRECTS = [
    "//evil.example", "///evil.example", "https://evil.example/", "https:evil.example",
    "http:/evil.example", "javascript:alert(1)", "java\tscript:alert(1)", "\\\\evil.example",
    "/\\evil.example", "\\/evil.example", "/\t/evil.example", "/\n/evil.example",
    "/\r/evil.example", "/\r\n/evil.example", "/ /evil.example", "/\x00/evil.example",
    "/\x0b/evil.example", "/\x0c/evil.example", "/\u00a0/evil.example", "/\u3000/evil.example",
    "/\u200b/evil.example", "/\ufeff/evil.example", "/\u2028/evil.example",
    "/%09/evil.example", "/%0a/evil.example", "/%2F/evil.example", "/%5Cevil.example",
    " //evil.example", "\t//evil.example", "evil.example", "./evil", "",
    "/" + "a" * 3000,
    # Characters read as slashes after decoding or NFKC normalisation by some clients.
    "/\uff0fevil.example", "/\u2215evil.example", "/\u2044evil.example",
    "/\u29f8evil.example", "/\uff3cevil.example", "/\ufe68evil.example",
]


def _browser_reading(location: str) -> str:
    """The URL a browser follows: tabs and newlines dropped, backslashes read as slashes."""
    return "".join(ch for ch in location if ch not in "\t\n\r").replace("\\", "/")


def _assert_on_site(location: str) -> None:
    seen = _browser_reading(location)
    parts = urlsplit(seen)
    assert not parts.scheme and not parts.netloc and seen.startswith("/") \
        and not seen.startswith("//"), location
    assert location.isascii() and location.isprintable(), location


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_redirects_stay_on_the_site(client, editor, target):
    response = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                                "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/auth/login?next=" + quote(target, safe="")).get_data(as_text=True)
    assert re.search(r'name="next" value="/"', page)


@pytest.mark.parametrize("target", ["/maps/wa-bc?from=2025-01&type=crossing",
                                    "/editor/datasets/wa-bc", "/upload/", "/a%20b",
                                    "/maps/wa-bc?type=caf\u00e9"])
def test_redirects_stay_on_the_site_local_paths_are_kept(client, editor, target):
    response = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                                "next": target})
    assert response.status_code == 302
    assert unquote(response.headers["Location"]) == unquote(target)
    _assert_on_site(response.headers["Location"])


@pytest.mark.parametrize("target", ["/a\nb", "/a\rb", "/a\r\nSet-Cookie: x=1", "\n", "/\x7f",
                                    "/a\x00b", "/\u0085x"])
def test_control_chars_in_next_are_not_a_500(client, editor, target):
    page = client.get("/auth/login?next=" + quote(target, safe=""))
    assert page.status_code == 200
    assert 'name="next" value="/"' in page.get_data(as_text=True)
    wrong = client.post("/auth/login", data={"name": "editor", "password": "x", "next": target})
    assert wrong.status_code == 401
    assert 'name="next" value="/"' in wrong.get_data(as_text=True)
    response = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                                "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Set-Cookie: x" not in str(response.headers)


@pytest.mark.parametrize("path", ["/editor/datasets/a b", "/editor/datasets/caf\u00e9?x=1 2"])
def test_redirects_stay_on_the_site_guarded_paths_come_back(client, editor, path):
    """A guarded page whose path holds a space or a non-ASCII character is where sign-in
    returns (its decoded path used to be refused as unsafe and sent the editor to /)."""
    to_login = client.get(path)
    assert to_login.status_code == 302
    login_url = to_login.headers["Location"]
    next_value = parse_qs(urlsplit(login_url).query)["next"][0]
    assert unquote(next_value) == path
    response = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                                "next": next_value})
    assert response.status_code == 302
    assert unquote(response.headers["Location"]) == path
    _assert_on_site(response.headers["Location"])
