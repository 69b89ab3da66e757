"""Each CLI command through Flask's test runner."""

import sqlalchemy as sa

from geomap import accounts, db, storage


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
        storage.create_dataset(conn, "draft", "Draft")
    result = runner.invoke(args=["publish", "draft"])
    assert result.exit_code == 0 and "published (version 2)" in result.output
    with _conn(app) as conn:
        assert storage.get_dataset(conn, "draft")["published"] is True
    assert "unpublished" in runner.invoke(args=["unpublish", "draft"]).output
    missing = runner.invoke(args=["publish", "nope"])
    assert missing.exit_code == 1 and "no dataset 'nope'" in missing.output


def test_build_regions_passes_paths(runner, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("geomap.regions_build.build_regions",
                        lambda out, cache, log: calls.append((out, cache)))
    result = runner.invoke(args=["build-regions", "--out", str(tmp_path / "o"),
                                 "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path / "o", tmp_path / "c")]
