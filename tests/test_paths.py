"""Tests for fer_utils.paths.resolve: absolute paths stay, relative ones are found from the cwd, then the root."""

import pytest

from fer_utils import paths


@pytest.fixture()
def root_and_elsewhere(tmp_path, monkeypatch):
    """A stand-in project root holding data/faces.csv, and an empty working directory beside it."""
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "faces.csv").write_text("root copy\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(paths, "PROJECT_ROOT", root)
    monkeypatch.chdir(elsewhere)
    return root, elsewhere


def test_an_absolute_path_is_returned_unchanged(root_and_elsewhere, tmp_path):
    for path in (tmp_path / "missing.csv", root_and_elsewhere[0] / "data" / "faces.csv"):
        assert paths.resolve(path) == path
        assert paths.resolve(str(path)) == path


def test_a_relative_path_is_found_from_the_cwd_first(root_and_elsewhere):
    root, elsewhere = root_and_elsewhere
    (elsewhere / "data").mkdir()
    (elsewhere / "data" / "faces.csv").write_text("cwd copy\n")
    resolved = paths.resolve("data/faces.csv")
    assert resolved.is_absolute() and resolved == (elsewhere / "data" / "faces.csv").resolve()
    assert resolved.read_text() == "cwd copy\n"  # the cwd wins over the project root


def test_a_relative_path_missing_from_the_cwd_falls_back_to_the_project_root(root_and_elsewhere):
    root, _ = root_and_elsewhere
    resolved = paths.resolve("data/faces.csv")
    assert resolved == (root / "data" / "faces.csv").resolve()
    assert resolved.read_text() == "root copy\n"


def test_a_home_relative_path_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.resolve("~/faces.csv") == tmp_path / "faces.csv"


def test_a_failed_write_names_the_file_it_was_writing(tmp_path):
    """A full disk fails write() or fsync with an OSError that names no file; before issue 20 the CLI's one line
    then said only "No space left on device"."""
    import errno

    target = tmp_path / "report.html"
    with pytest.raises(OSError) as raised:
        with paths.atomic_write(target, "w"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
