"""Pruning the upload folder: what no import refers to goes, after a grace period."""

import os
import time

from geomap import db, ingest, store

SHA_A, SHA_B = "a" * 64, "b" * 64


def _touch(path, age_s=0.0, size=10):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def _folder(app):
    return app.config["UPLOAD_FOLDER"]


def _record(app, stored_path):
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        dataset = store.get_dataset(conn, "kept", missing_ok=True) or store.create_dataset(conn, "kept", "K")
        return store.record_import(conn, dataset["id"], filename="f.csv", mode="append",
                                   stored_path=stored_path, rows_total=1, rows_imported=1)


def test_prune_keeps_what_imports_refer_to_and_recent_files(any_app, tmp_path):
    from pathlib import Path

    folder = Path(_folder(any_app))
    imported = _touch(folder / f"{SHA_A}.csv", age_s=90_000)
    stale_preview = _touch(folder / f"{SHA_B}.csv", age_s=90_000, size=123)
    fresh_preview = _touch(folder / f"{'c' * 64}.csv", age_s=60)
    crashed_upload = _touch(folder / f"tmp-{'d' * 32}.part", age_s=90_000)
    not_ours = _touch(folder / "notes.txt", age_s=90_000)
    import_id = _record(any_app, imported.name)
    rejected_kept = _touch(folder / "rejected" / f"{import_id}.csv", age_s=90_000)
    rejected_orphan = _touch(folder / "rejected" / "999999.csv", age_s=90_000)

    with db.engine_for(any_app.config["DATABASE_URL"]).connect() as conn:
        dry = ingest.prune_uploads(conn, folder, older_than_s=86_400, dry_run=True)
        assert sorted(dry.removed) == sorted([stale_preview, crashed_upload, rejected_orphan])
        assert stale_preview.exists() and dry.removed_bytes == 123 + 10 + 10
        result = ingest.prune_uploads(conn, folder, older_than_s=86_400)
    assert sorted(result.removed) == sorted(dry.removed) and result.kept == 3
    assert not stale_preview.exists() and not crashed_upload.exists()
    assert not rejected_orphan.exists()
    for path in (imported, fresh_preview, not_ours, rejected_kept):
        assert path.exists(), path


def test_prune_of_a_missing_folder_is_a_no_op(any_app, tmp_path):
    with db.engine_for(any_app.config["DATABASE_URL"]).connect() as conn:
        result = ingest.prune_uploads(conn, tmp_path / "nowhere", older_than_s=0)
    assert result.removed == [] and result.kept == 0


def test_prune_uploads_command(app, runner, tmp_path):
    from pathlib import Path

    folder = Path(_folder(app))
    preview = _touch(folder / f"{SHA_B}.csv", age_s=7200)
    imported = _touch(folder / f"{SHA_A}.csv", age_s=7200)
    _record(app, imported.name)
    dry = runner.invoke(args=["prune-uploads", "--older-than", "1", "--dry-run"])
    assert dry.exit_code == 0 and f"would remove {preview}" in dry.output
    assert "Would remove 1 file(s), 10 bytes; kept 1." in dry.output and preview.exists()
    kept = runner.invoke(args=["prune-uploads"])  # default grace period: 24 hours
    assert kept.exit_code == 0 and "Removed 0 file(s)" in kept.output and preview.exists()
    done = runner.invoke(args=["prune-uploads", "--older-than", "1"])
    assert done.exit_code == 0 and "Removed 1 file(s), 10 bytes; kept 1." in done.output
    assert not preview.exists() and imported.exists()
    bad = runner.invoke(args=["prune-uploads", "--older-than", "-1"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
