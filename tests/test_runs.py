"""Tests for fer_utils.runs: what counts as a run, listing, pruning only stale runs, read-only runs folders."""

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from fer_utils import cli, config, errors, identity, runs


def fake_run(runs_dir, stale=False):
    """A finished quick-profile run made without training: identity, config, metrics and a whole model.keras.

    With ``stale`` its identity names an older training-code version, as a run trained before the last bump.
    """
    settings = config.resolve("quick")
    stored = identity.identity_from(settings.to_dict(), "0" * 64)
    if stale:
        stored["code"] -= 1
    directory = Path(runs_dir) / identity.run_key(settings, stored)
    directory.mkdir(parents=True)
    (directory / runs.IDENTITY_FILE).write_text(json.dumps(stored))
    (directory / "config.json").write_text(json.dumps({**settings.to_dict(), "data_source": "fake"}))
    (directory / "metrics.json").write_text(json.dumps({"splits": {"val": {"accuracy": 0.5}}}))
    with zipfile.ZipFile(directory / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    return directory


def files_under(folder):
    """{relative path: bytes} of every file under ``folder``, symbolic links not followed."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            found[str(path.relative_to(folder))] = os.readlink(path) if path.is_symlink() else path.read_bytes()
    return found


@pytest.fixture
def crowded(tmp_path):
    """A runs folder holding a stale run, a finished run and five entries that are no runs, each with a file.

    Returns:
        (runs folder, stale run directory, finished run directory, the folder outside the symlink points to).
    """
    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    stale, finished = fake_run(runs_dir, stale=True), fake_run(runs_dir)
    for folder, name in (("photos", "holiday.jpg"), ("thesis/.git", "HEAD"),
                         ("vgg_small-quick-0123456789ab", "notes.txt"), ("../outside", "precious.txt")):
        (runs_dir / folder).mkdir(parents=True, exist_ok=True)
        (runs_dir / folder / name).write_text("keep me")
    (runs_dir / "todo.txt").write_text("keep me")
    (runs_dir / "linked").symlink_to(outside, target_is_directory=True)
    return runs_dir, stale, finished, outside


def test_only_folders_named_and_filled_like_runs_count_as_runs(crowded):
    runs_dir, stale, finished, _ = crowded
    states = {row["run"]: row["state"] for row in runs.list_runs(runs_dir)}
    assert states == {stale.name: "stale", finished.name: "finished", "photos": "not a run", "thesis": "not a run",
                      "vgg_small-quick-0123456789ab": "not a run", "todo.txt": "not a run", "linked": "not a run"}
    assert runs.is_run(stale) and runs.is_run(finished)
    assert not any(runs.is_run(runs_dir / name) for name in ("photos", "thesis", "vgg_small-quick-0123456789ab",
                                                              "todo.txt", "linked"))
    legacy = runs_dir / "ensemble2-dnn_vgg_small-cpu-00000000000a"  # made before runs stored their identity
    legacy.mkdir()
    (legacy / "config.json").write_text("{}")
    assert not runs.is_run(legacy)  # a config alone is no run: the user's folder may hold one
    (legacy / "members.json").write_text("[]")
    assert runs.is_run(legacy)
    started = runs_dir / "seed2017-full-00000000000b"  # killed between taking its lock and writing its identity
    started.mkdir()
    (started / runs.LOCK_FILE).write_text("4242")
    assert runs.is_run(started)


def test_prune_refuses_a_runs_folder_holding_anything_but_runs_and_deletes_nothing(crowded):
    runs_dir, _, _, outside = crowded
    before = files_under(runs_dir)
    for dry_run in (True, False):
        with pytest.raises(errors.InputError) as refused:
            runs.prune(runs_dir, dry_run=dry_run)
        message = str(refused.value)
        assert str(runs_dir) in message and "--ignore-others" in message and "\n" not in message
        assert all(name in message for name in ("linked", "photos", "thesis", "todo.txt"))
    assert files_under(runs_dir) == before and (outside / "precious.txt").read_text() == "keep me"


def test_prune_told_to_ignore_the_others_deletes_only_the_stale_run(crowded, capsys):
    runs_dir, stale, finished, outside = crowded
    before = files_under(runs_dir)
    assert [row["run"] for row in runs.prune(runs_dir, dry_run=True, ignore_others=True)] == [stale.name]
    assert files_under(runs_dir) == before
    assert [row["run"] for row in runs.prune(runs_dir, ignore_others=True)] == [stale.name]
    assert not stale.exists() and finished.exists()
    assert files_under(runs_dir) == {name: value for name, value in before.items()
                                     if not name.startswith(stale.name + os.sep)}
    assert (outside / "precious.txt").read_text() == "keep me" and (runs_dir / "linked").is_symlink()
    err = capsys.readouterr().err
    assert err.index(stale.name) < err.index(f"deleted {stale.name}")  # the table of what goes comes first


def test_the_cli_refuses_in_one_line_then_prunes_with_ignore_others(crowded, capsys):
    runs_dir, stale, finished, outside = crowded
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["runs", "--prune", "--runs-dir", str(runs_dir)])
    err = capsys.readouterr().err
    assert exit_info.value.code == cli.EXIT_INPUT and len(err.strip().splitlines()) == 1
    assert "not runs" in err and "--ignore-others" in err and stale.exists()
    assert cli.main(["runs", "--prune", "--ignore-others", "--runs-dir", str(runs_dir)]) == 0
    assert "1 stale run(s) deleted" in capsys.readouterr().out
    assert not stale.exists() and finished.exists() and (outside / "precious.txt").exists()
    assert (runs_dir / "photos" / "holiday.jpg").exists() and (runs_dir / "thesis" / ".git" / "HEAD").exists()


def test_a_failed_delete_names_the_run(tmp_path, monkeypatch):
    stale = fake_run(tmp_path / "runs", stale=True)

    def refuse(path, *args, **kwargs):
        raise OSError("Cannot call rmtree on a symbolic link")  # the message shutil gives, with no path

    monkeypatch.setattr(shutil, "rmtree", refuse)
    with pytest.raises(OSError) as failed:
        runs.prune(tmp_path / "runs")
    assert str(stale) in str(failed.value) and stale.exists()


def test_listing_follows_no_symlink_and_survives_unreadable_entries(tmp_path):
    run = fake_run(tmp_path / "runs")
    (tmp_path / "big.bin").write_bytes(b"\0" * 3_000_000)
    (run / "linked.bin").symlink_to(tmp_path / "big.bin")
    (run / "dangling").symlink_to(tmp_path / "gone")
    (row,) = runs.list_runs(tmp_path / "runs")
    assert row["state"] == "finished" and row["megabytes"] < 0.1


def test_a_read_only_runs_folder_is_listed_and_its_lock_holder_read(tmp_path, refuse_writes):
    run = fake_run(tmp_path / "runs")
    with runs.lock(run):  # a .lock file left by the run's training, now held by this process
        refuse_writes(tmp_path / "runs")
        assert runs.holder(run) == str(os.getpid())
    assert runs.holder(run) == "" and runs.holder(tmp_path / "runs" / "no-such-run") == ""
    (row,) = runs.list_runs(tmp_path / "runs")
    assert row["state"] == "finished" and row["accuracy"] == 0.5
