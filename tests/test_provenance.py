"""Tests for fer_utils.provenance: the reproducibility stamp's facts (commit, machine, versions)."""

from fer_utils import provenance


def test_git_commit_says_when_the_folder_is_not_a_checkout(tmp_path):
    assert provenance.git_commit(tmp_path) == "not a git checkout"


def test_git_commit_of_a_checkout_names_the_commit_and_local_changes(tmp_path):
    import subprocess

    def git(*arguments):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *arguments],
                       check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one")
    git("add", "a.txt")
    git("commit", "-q", "-m", "first")
    clean = provenance.git_commit(tmp_path)
    assert len(clean) == 12 and all(character in "0123456789abcdef" for character in clean)
    (tmp_path / "a.txt").write_text("two")
    assert provenance.git_commit(tmp_path) == clean + " + local changes"


def test_environment_names_versions_and_machine():
    environment = provenance.environment()
    assert set(environment) == {"date", "git", "python", "tensorflow", "keras", "cpu", "cores", "gpu"}
    assert environment["date"].endswith("UTC") and environment["cores"] >= 1 and environment["cpu"]
    assert environment["python"].count(".") == 2
