"""Tests for fer_utils.atomic: locks, and staged sets of files and folders replaced together or not at all."""

import json
import os
import threading
import time

import pytest

from fer_utils import atomic


def _listing(folder):
    return sorted(path.name for path in folder.iterdir())


def _old_pair(parent):
    (parent / "report.html").write_text("old html")
    (parent / "report.pdf").write_text("old pdf")
    (parent / "executed").mkdir()
    (parent / "executed" / "01-a.ipynb").write_text("old 01")
    (parent / "executed" / "02-b.ipynb").write_text("old 02")


def test_a_commit_replaces_files_and_folders_and_removes_what_the_new_set_lacks(tmp_path):
    _old_pair(tmp_path)
    (tmp_path / "photos").mkdir()  # the user's: never touched
    with atomic.Staging(tmp_path, "report") as stage:
        (stage.path / "report.html").write_text("new html")
        (stage.path / "executed").mkdir()
        (stage.path / "executed" / "01-a.ipynb").write_text("new 01")
        replaced = stage.commit(remove=("report.pdf",))
    assert [path.name for path in replaced] == ["executed", "report.html"]
    assert (tmp_path / "report.html").read_text() == "new html" and not (tmp_path / "report.pdf").exists()
    assert _listing(tmp_path / "executed") == ["01-a.ipynb"], "a folder is replaced whole, not merged"
    assert _listing(tmp_path) == [".report.lock", "executed", "photos", "report.html"]


def test_leaving_without_a_commit_keeps_the_old_set_and_leaves_nothing(tmp_path):
    _old_pair(tmp_path)
    with pytest.raises(RuntimeError):
        with atomic.Staging(tmp_path, "report") as stage:
            (stage.path / "report.html").write_text("new html")
            raise RuntimeError("the print failed")
    assert (tmp_path / "report.html").read_text() == "old html" and (tmp_path / "report.pdf").read_text() == "old pdf"
    assert _listing(tmp_path) == ["executed", "report.html", "report.pdf"]


def _killed_stage(parent, key, committed, moved=()):
    """A staging folder as a killed process leaves it: its files, perhaps its marker, some entries moved."""
    staging = parent / f".{key}.staging-{'0' * 16}"
    staging.mkdir()
    (staging.with_name(staging.name + ".lock")).write_text("12345")  # nobody holds it: the process died
    for name in ("report.html", "report.pdf"):
        if name in moved:
            (parent / name).write_text(f"new {name}")
        else:
            (staging / name).write_text(f"new {name}")
    if committed:
        (staging / atomic.COMMIT_FILE).write_text(json.dumps({"replace": ["report.html", "report.pdf"], "remove": []}))
    return staging


def test_recover_rolls_a_committed_set_forward(tmp_path):
    _old_pair(tmp_path)
    _killed_stage(tmp_path, "report", committed=True, moved=("report.html",))  # killed between the two moves
    assert len(atomic.recover(tmp_path, "report")) == 1
    assert (tmp_path / "report.html").read_text() == "new report.html"
    assert (tmp_path / "report.pdf").read_text() == "new report.pdf", "the pair is completed, never left mixed"
    assert _listing(tmp_path) == ["executed", "report.html", "report.pdf"]


def test_recover_drops_an_uncommitted_set_of_a_dead_process(tmp_path):
    _old_pair(tmp_path)
    _killed_stage(tmp_path, "report", committed=False)
    atomic.recover(tmp_path, "report")
    assert (tmp_path / "report.html").read_text() == "old html" and (tmp_path / "report.pdf").read_text() == "old pdf"
    assert _listing(tmp_path) == ["executed", "report.html", "report.pdf"]


def test_recover_leaves_a_set_another_process_is_still_building(tmp_path):
    with atomic.Staging(tmp_path, "report") as stage:  # a separate open file: its lock is held as by another process
        (stage.path / "report.html").write_text("half")
        assert atomic.recover(tmp_path, "report") == []
        assert (stage.path / "report.html").read_text() == "half"


def test_recover_touches_only_its_own_names(tmp_path):
    for name in (".report.staging-xyz", ".report.staging-0123", "report.staging-0000000000000000", ".other.staging-"
                 + "0" * 16):
        (tmp_path / name).mkdir()
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "keep").write_text("keep")
    os.symlink(tmp_path / "target", tmp_path / f".report.staging-{'1' * 16}")
    atomic.recover(tmp_path, "report")
    assert len(list(tmp_path.iterdir())) == 6 and (tmp_path / "target" / "keep").exists()


def test_a_commit_waits_for_a_reader(tmp_path):
    _old_pair(tmp_path)
    events = []

    def commit():
        with atomic.Staging(tmp_path, "report") as stage:
            (stage.path / "report.html").write_text("new html")
            stage.commit()
            events.append("committed")

    with atomic.reading(tmp_path, "report"):
        writer = threading.Thread(target=commit)
        writer.start()
        time.sleep(0.5)
        events.append("read " + (tmp_path / "report.html").read_text())
    writer.join(timeout=10)
    assert events == ["read old html", "committed"]
    assert (tmp_path / "report.html").read_text() == "new html"


def test_a_lock_file_in_a_read_only_place_is_read_without_writing(tmp_path, refuse_writes):
    lock_file = tmp_path / ".executed.lock"
    with atomic.lock(lock_file):  # a writer's lock, taken before the folder became read-only
        refuse_writes(tmp_path)
        assert atomic.holder(lock_file) == str(os.getpid())
    assert atomic.holder(lock_file) == "" and atomic.holder(tmp_path / ".missing.lock") == ""
    with atomic.lock(lock_file, shared=True):  # a reader needs no write access
        assert atomic.holder(lock_file) == "", "readers do not count as holders"
    with pytest.raises(PermissionError):
        with atomic.lock(lock_file):
            pass
