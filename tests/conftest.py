"""Shared test set-up: quiet TensorFlow, keep caches and runs out of the project tree."""

import builtins
import errno
import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path, monkeypatch):
    """Point the cache and runs folders at a temporary folder for every test."""
    from fer_utils import paths

    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")


@pytest.fixture()
def narrow_vgg_small(monkeypatch):
    """``vgg_small`` at widths (4, 8, 8) for one test, so a training run through ``train.train`` takes seconds."""
    from fer_utils import models

    narrow = models.PRESETS["vgg_small"]
    monkeypatch.setitem(models.PRESETS, "vgg_small", lambda **kw: narrow(**{"widths": (4, 8, 8), **kw}))


def _refuse_writes(monkeypatch, root):
    """Make every write under ``root`` fail with PermissionError, as in a read-only folder.

    The tests run as root, whom file permission bits do not stop, so a ``chmod a-w`` alone would prove nothing.
    """
    root = os.path.realpath(root)

    def check(path):
        if not isinstance(path, int) and os.path.realpath(os.fsdecode(path)).startswith(root):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(letter in mode for letter in "wax+"):
            check(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND):
            check(path)
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    for name in ("replace", "rename", "unlink", "remove", "rmdir", "mkdir"):
        def guarded(path, *args, _real=getattr(os, name), **kwargs):
            check(path)
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, guarded)

@pytest.fixture()
def refuse_writes(monkeypatch):
    """A function that makes every write under a folder fail with PermissionError (see ``_refuse_writes``)."""
    return lambda root: _refuse_writes(monkeypatch, root)


def pytest_collection_modifyitems(config, items):
    """Queue the tests marked ``heavy`` (minutes each) first; the rest keep their collected order.

    With `make test`'s parallel workers a heavy test taken late would keep the whole suite waiting for it.
    """
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)  # a stable sort


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test`'s parallel schedule (pytest-xdist ``--dist loadscope --no-loadscope-reorder``).

    A notebook's nbval cells share one kernel, and Q2-Q5 analyse the CNN that Q1 trained, so the notebooks'
    cells are one unit of work, run in order (01 to 05) on one worker; every other test is a unit of its own,
    handed out in the collected order (heavy tests first).
    xdist's own ``loadgroup`` cannot express this here: it renames node ids, which pytest 9 ignores.
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::")[0]
            return "notebooks" if path.endswith(".ipynb") else nodeid

    return NotebookScopes(config, log)
