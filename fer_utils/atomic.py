"""Outputs replaced as a unit: OS file locks, and a staging folder whose entries replace their namesakes together.

A single file is written atomically by ``paths.atomic_write``. Some outputs belong together: the five executed
notebooks of one workbook run, the HTML report and its PDF. They are built aside in a staging folder, then
committed: a marker file lists what the staging folder replaces, and only then are the entries moved into
place. A process killed before the marker leaves the old entries untouched (its staging folder is deleted by
the next commit or ``recover``); one killed after it is rolled forward by the next ``recover``. So readers see
the old set whole or the new set whole, never a mix (the pattern of git, which writes objects, then moves the
ref).

Names beside ``parent`` (all hidden; nothing else is ever deleted):

- ``.<key>.lock``: the lock of the unit; writers take it exclusively to commit, readers to read;
- ``.<key>.staging-<16 hex>/``: a staging folder, with its owner's lock ``.<key>.staging-<16 hex>.lock``
  (a staging folder whose lock nobody holds belongs to a dead process);
- ``COMMIT_FILE`` inside a staging folder: the commit marker (JSON: the names to replace and to remove).
"""

import contextlib
import json
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

try:
    import fcntl  # POSIX advisory locks; released by the kernel when the holding process dies
except ImportError:  # pragma: no cover - Windows: no locking, outputs are still built aside and swapped
    fcntl = None

from fer_utils import paths

COMMIT_FILE = ".commit.json"


@contextlib.contextmanager
def lock(path, shared=False, doing="written", announce=True, label=None):
    """Hold an OS advisory lock on the file ``path`` (made if missing) for the block.

    A process that must wait says which process holds the lock; the lock of a process that died is released
    by the kernel. Where the lock file cannot be written (a read-only folder nobody can write to either), a
    shared lock is taken on it read-only, or none when it does not exist.

    Args:
        path: the lock file.
        shared: a reader's lock (several at once) instead of a writer's.
        doing: the verb of the waiting message, "<label> is being <doing> by process N".
        announce: print the waiting message.
        label: what the message calls the locked thing (default: the lock file's name without dots and
            ``.lock``, ``.executed.lock`` -> "executed").
    Yields:
        ``path``.
    """
    path = Path(path)
    handle = _open_lock(path, shared)
    if handle is None:
        yield path
        return
    with handle:
        if fcntl is not None:
            mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if announce:
                    holder_text = _read_holder(handle) or "another process"
                    label = label or path.name.strip(".").removesuffix(".lock")
                    print(f"{label} is being {doing} by process {holder_text}; waiting for it to finish",
                          file=sys.stderr, flush=True)
                fcntl.flock(handle, mode)
        if not shared and handle.writable():
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        try:
            yield path
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _open_lock(path, shared):
    """The lock file opened for locking: read-write when possible, read-only for a reader who may not write."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a+")
    except PermissionError:
        if not shared:
            raise
        return open(path) if path.exists() else None


def _read_holder(handle):
    handle.seek(0)
    return handle.read().strip()


def holder(path):
    """Who holds the lock file ``path``, asked without write access (a read-only folder works).

    The file is opened read-only and tried with a shared lock, which a writer's exclusive lock blocks (and
    which two askers do not take from each other); without a lock file nobody holds it.

    Returns:
        The holding process id as text, "" when nobody holds it, "?" when the file cannot be read or names
        no process (callers then treat it as held).
    """
    path = Path(path)
    if fcntl is None or not path.exists():
        return ""
    try:
        handle = open(path)
    except OSError:
        return "?"
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(handle) or "?"
        except OSError:
            return "?"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return ""


def lock_path(parent, key):
    """The lock file of the unit ``key`` in ``parent`` (``parent/.<key>.lock``)."""
    return Path(parent) / f".{key}.lock"


def _staging_pattern(key):
    return re.compile(rf"^\.{re.escape(key)}\.staging-[0-9a-f]{{16}}$")


class Staging:
    """A staging folder beside the entries it will replace; use as a context manager.

    Entries written into ``path`` replace their namesakes in ``parent`` on ``commit()``; leaving the block
    without committing deletes the staging folder (the old entries stay as they were).

    Args:
        parent: the folder holding the entries (made if missing).
        key: names the unit (its lock and staging folders), e.g. "executed" or "report".
    """

    def __init__(self, parent, key):
        self.parent, self.key = Path(parent), key
        self.path = self.parent / f".{key}.staging-{secrets.token_hex(8)}"
        self._owner = None

    def __enter__(self):
        self.parent.mkdir(parents=True, exist_ok=True)
        self._owner = contextlib.ExitStack()
        self._owner.enter_context(lock(self.path.with_name(self.path.name + ".lock"), announce=False))
        self.path.mkdir()
        return self

    def __exit__(self, *exc_info):
        try:
            if self.path.exists() and not (self.path / COMMIT_FILE).exists():
                shutil.rmtree(self.path)
        finally:
            self._owner.close()
            self.path.with_name(self.path.name + ".lock").unlink(missing_ok=True)
        return False

    def commit(self, remove=()):
        """Replace the namesakes in ``parent`` of every entry of the staging folder, and delete ``remove``.

        Under the unit's lock: earlier interrupted commits are finished first (``recover``), then the marker is
        written, then each entry moves into place (a folder's old version is moved into the staging folder
        first, then deleted with it).

        Args:
            remove: names in ``parent`` that the new set no longer has (e.g. an old PDF beside a new HTML-only
                report), deleted in the same commit.
        Returns:
            The paths in ``parent`` of the replaced entries, sorted.
        """
        names = sorted(entry.name for entry in self.path.iterdir() if entry.name != COMMIT_FILE)
        with lock(lock_path(self.parent, self.key)):
            recover(self.parent, self.key)
            with paths.atomic_write(self.path / COMMIT_FILE, "w") as handle:
                handle.write(json.dumps({"replace": names, "remove": sorted(set(remove) - set(names))}))
            _roll_forward(self.parent, self.path)
        return [self.parent / name for name in names]


def _roll_forward(parent, staging):
    """Move the committed entries of ``staging`` into ``parent`` (idempotent: resumes a commit cut short)."""
    marker = json.loads((staging / COMMIT_FILE).read_text())
    for name in marker["replace"]:
        new, target = staging / name, parent / name
        if not os.path.lexists(new):
            continue  # moved already, before an interruption
        if target.is_dir() and not target.is_symlink():
            os.replace(target, staging / f".old-{name}")  # a folder cannot be replaced by rename; set it aside
        os.replace(new, target)
    for name in marker["remove"]:
        target = parent / name
        if target.is_file() or target.is_symlink():
            target.unlink()
    shutil.rmtree(staging)


def recover(parent, key):
    """Finish the commits of unit ``key`` that a killed process left half done; delete dead staging folders.

    Call it holding the unit's lock (``Staging.commit`` does). A staging folder with a commit marker is rolled
    forward; one without, whose owner's lock is free (its process died), is deleted with its lock file. Only
    names of the staging pattern are touched.

    Returns:
        The staging folders rolled forward or deleted.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    handled = []
    pattern = _staging_pattern(key)
    for staging in sorted(parent.iterdir()):
        if not pattern.match(staging.name) or staging.is_symlink() or not staging.is_dir():
            continue
        owner = staging.with_name(staging.name + ".lock")
        if (staging / COMMIT_FILE).exists():
            _roll_forward(parent, staging)
        elif holder(owner):
            continue  # another process is still building it
        else:
            shutil.rmtree(staging)
        owner.unlink(missing_ok=True)
        handled.append(staging)
    return handled


@contextlib.contextmanager
def reading(parent, key):
    """Read the unit ``key`` of ``parent`` under its lock, after finishing any commit a killed process left.

    Yields:
        ``parent``.
    """
    parent = Path(parent)
    writable = parent.is_dir() and os.access(parent, os.W_OK)
    with lock(lock_path(parent, key), shared=not writable, doing="replaced"):
        if writable:
            recover(parent, key)
        yield parent
