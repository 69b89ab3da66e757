"""Each CLI command through Flask's test runner."""

import sqlalchemy as sa

from geomap import access, accounts, db, store


def _conn(app):
    return db.engine_for(app.config["DATABASE_URL"]).begin()


def test_init_db(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and f"revision {db.head_revision()}" in result.output


def test_create_user_from_stdin(app, runner):
    result = runner.invoke(args=["create-user", "ana", "--password-stdin"],
                           input="long enough pw\n")
    assert result.exit_code == 0, result.output
    with _conn(app) as conn:
        assert accounts.check_login(conn, "ana", "long enough pw")


def test_create_user_prompts_twice(app, runner):
    result = runner.invoke(args=["create-user", "bo"], input="pass-word-1\npass-word-1\n")
    assert result.exit_code == 0, result.output
    with _conn(app) as conn:
        assert accounts.check_login(conn, "bo", "pass-word-1")


def test_create_user_short_password_fails_cleanly(runner):
    result = runner.invoke(args=["create-user", "cy", "--password-stdin"], input="short\n")
    assert result.exit_code == 1
    assert "at least 8 characters" in result.output and "Traceback" not in result.output


def test_create_token_prints_it_alone_on_last_line(app, runner):
    result = runner.invoke(args=["create-token", "ci-bot"])
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    with _conn(app) as conn:
        assert accounts.check_token(conn, token)["name"] == "ci-bot"
        stored = conn.execute(sa.select(db.api_tokens.c.token_hash)).scalar_one()
    assert token not in stored


def test_revoke_token(app, runner):
    token = runner.invoke(args=["create-token", "old"]).output.strip().splitlines()[-1]
    assert runner.invoke(args=["revoke-token", "old"]).exit_code == 0
    with _conn(app) as conn:
        assert accounts.check_token(conn, token) is None
    again = runner.invoke(args=["revoke-token", "old"])
    assert again.exit_code == 1 and "no live token" in again.output


def test_publish_and_unpublish(app, runner):
    with _conn(app) as conn:
        store.create_dataset(conn, "draft", "Draft")
    result = runner.invoke(args=["publish", "draft"])
    assert result.exit_code == 0 and "published (version 2)" in result.output
    with _conn(app) as conn:
        assert store.get_dataset(conn, "draft")["published"] is True
    assert "unpublished" in runner.invoke(args=["unpublish", "draft"]).output
    missing = runner.invoke(args=["publish", "nope"])
    assert missing.exit_code == 1 and "no dataset 'nope'" in missing.output


def test_build_regions_passes_paths(runner, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("geomap.regions.build.build_regions",
                        lambda out, cache, log: calls.append((out, cache)))
    result = runner.invoke(args=["build-regions", "--out", str(tmp_path / "o"),
                                 "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path / "o", tmp_path / "c")]


def _role(app, name):
    with _conn(app) as conn:
        return {u["name"]: u for u in accounts.list_users(conn)}[name]


def test_roles_and_ownership_cli_users(app, runner):
    assert runner.invoke(args=["create-user", "ed", "--password-stdin"],
                         input="long enough pw\n").exit_code == 0
    assert _role(app, "ed")["role"] == "editor"  # editors by default
    result = runner.invoke(args=["create-user", "ad", "--admin", "--password-stdin"],
                           input="long enough pw\n")
    assert result.exit_code == 0 and "Created admin ad" in result.output
    assert _role(app, "ad")["role"] == "admin"
    assert runner.invoke(args=["set-role", "ed", "admin"]).exit_code == 0
    assert _role(app, "ed")["role"] == "admin"
    bad = runner.invoke(args=["set-role", "ed", "root"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert runner.invoke(args=["disable-user", "ed"]).exit_code == 0
    with _conn(app) as conn:
        assert accounts.check_login(conn, "ed", "long enough pw") is None
    assert runner.invoke(args=["enable-user", "ed"]).exit_code == 0
    with _conn(app) as conn:
        assert accounts.check_login(conn, "ed", "long enough pw")
    missing = runner.invoke(args=["disable-user", "nobody"])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output


def test_roles_and_ownership_cli_collaborators(app, runner):
    with _conn(app) as conn:
        accounts.create_user(conn, "ed", "long enough pw")
        dataset = store.create_dataset(conn, "d", "D")
    assert runner.invoke(args=["add-collaborator", "d", "ed"]).exit_code == 0
    with _conn(app) as conn:
        assert access.list_members(conn, dataset["id"]) == [
            {"user_name": "ed", "role": "collaborator"}]
    assert runner.invoke(args=["add-collaborator", "d", "ed", "--owner"]).exit_code == 0
    with _conn(app) as conn:
        assert access.list_members(conn, dataset["id"])[0]["role"] == "owner"
    assert runner.invoke(args=["remove-collaborator", "d", "ed"]).exit_code == 0
    again = runner.invoke(args=["remove-collaborator", "d", "ed"])
    assert again.exit_code == 1 and "not a member" in again.output
    nope = runner.invoke(args=["add-collaborator", "nope", "ed"])
    assert nope.exit_code == 1 and "no dataset 'nope'" in nope.output


def test_create_token_for_a_user_acts_for_them(app, runner):
    with _conn(app) as conn:
        accounts.create_user(conn, "ed", "long enough pw")
    result = runner.invoke(args=["create-token", "ci", "--user", "ed"])
    token = result.output.strip().splitlines()[-1]
    with _conn(app) as conn:
        row = accounts.check_token(conn, token)
    assert accounts.token_actor(row) == access.Actor(id=row["user_id"], name="ed", role="editor")
