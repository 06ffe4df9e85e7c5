"""The /gcs view stays inside its directory (issue 10 item 2): an object named "/abs/path" or one that
climbs out with "..", pulled from the real storage emulator, is skipped with a WARNING, never written there;
a symlink a trainer leaves in the view is never followed on the way back."""

from __future__ import annotations

from pathlib import Path

from support import storage_client, unique

from airflow_provider_trainjobs.local.gcs_view import GcsView


def test_object_names_cannot_leave_the_view(storage_emulator: str, tmp_path: Path) -> None:
    client = storage_client(storage_emulator)
    bucket = client.create_bucket(unique("view-escape").replace("_", "-"))
    outside = tmp_path / "outside" / "escaped.txt"
    bucket.blob(str(outside)).upload_from_string(b"absolute")  # a name starting with "/"
    bucket.blob("data/kept.txt").upload_from_string(b"kept")
    logged: list[tuple[str, str]] = []
    root = tmp_path / "view"

    view = GcsView(root, storage_emulator, "local-project", [bucket.name], lambda s, m: logged.append((s, m)))
    view.pull()

    assert not outside.exists()
    assert (root / bucket.name / "data" / "kept.txt").read_bytes() == b"kept"
    assert all(path.resolve().is_relative_to(root.resolve()) for path in root.rglob("*"))
    assert any(s == "WARNING" and str(outside) in m and "not mirrored" in m for s, m in logged), logged


def test_a_symlink_in_the_view_is_not_uploaded(storage_emulator: str, tmp_path: Path) -> None:
    client = storage_client(storage_emulator)
    bucket = client.create_bucket(unique("view-link").replace("_", "-"))
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("private")
    root = tmp_path / "view"
    view = GcsView(root, storage_emulator, "local-project", [bucket.name], lambda s, m: None)
    view.pull()
    (root / bucket.name / "linked").symlink_to(secret, target_is_directory=True)
    (root / bucket.name / "out.txt").write_text("result")

    assert view.push() == 1
    assert sorted(b.name for b in client.list_blobs(bucket.name)) == ["out.txt"]
