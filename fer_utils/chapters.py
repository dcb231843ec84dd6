"""The executed workbook read back: each executed notebook read once (``Executed``), its parameters and glued
records, and the check that the chapters were run together (``read_workbook``)."""

import contextlib
import dataclasses
import json
import re
from pathlib import Path

from fer_utils import atomic, glue
from fer_utils.errors import WorkbookError
from fer_utils.execution import MANIFEST, notebooks


@dataclasses.dataclass
class Executed:
    """One executed chapter, read once.

    Attributes:
        path: the executed notebook.
        notebook: its ``nbformat`` node.
        parameters: the ``parameters`` cell's defaults with the values papermill injected.
        glued: every value it recorded with ``glue.record``, as (name, value) in output order.
    """

    path: Path
    notebook: object
    parameters: dict
    glued: list

    @property
    def number(self):
        """The chapter's number (``01-cnn.ipynb`` -> 1)."""
        return int(self.path.name[:2])

    @property
    def title(self):
        """The first line of its first cell without the ``#`` ("Q1 · A convolutional network")."""
        first = self.notebook.cells[0].source.splitlines() if self.notebook.cells else []
        return first[0].lstrip("# ").strip() if first else self.path.stem

    def records(self, name):
        """The values it glued under ``name``, in order."""
        return [value for key, value in self.glued if key == name]


def parameters_cell_defaults(notebook):
    """{name: value} of the literal assignments in a notebook's ``parameters`` cell (read, never executed)."""
    import ast

    defaults = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        for statement in ast.parse(cell.source).body:
            target = statement.target if isinstance(statement, ast.AnnAssign) else (
                statement.targets[0] if isinstance(statement, ast.Assign) and len(statement.targets) == 1 else None)
            if isinstance(target, ast.Name) and statement.value is not None:
                with contextlib.suppress(ValueError, SyntaxError):
                    defaults[target.id] = ast.literal_eval(statement.value)
    return defaults


def read_executed(executed):
    """Read executed chapters once each.

    Args:
        executed: executed notebook paths in order (``Executed`` items are kept as they are).
    Returns:
        A list of ``Executed``.
    Raises:
        WorkbookError: a file that is not a notebook (named).
    """
    import nbformat

    chapters = []
    for item in executed:
        if isinstance(item, Executed):
            chapters.append(item)
            continue
        path = Path(item)
        try:
            notebook = nbformat.read(str(path), as_version=4)
        except (OSError, ValueError) as error:  # nbformat's NotJSONError and validation errors are ValueErrors
            raise WorkbookError(f"{path}: not a readable notebook ({type(error).__name__}: {str(error)[:200]})") from None
        parameters = {**parameters_cell_defaults(notebook), **notebook.metadata.get("papermill", {}).get("parameters", {})}
        values = [(name, value) for cell in notebook.cells if cell.cell_type == "code"
                  for output in cell.get("outputs", [])
                  for name, value in output.get("data", {}).get(glue.GLUE_MIME, {}).items()]
        chapters.append(Executed(path, notebook, parameters, values))
    return chapters


def glued(executed):
    """The values the executed notebooks recorded with ``glue.record``, merged in notebook order.

    Args:
        executed: executed notebook paths or ``Executed`` items.
    Returns:
        {name: value}; later notebooks override earlier ones for the same name.
    """
    return {name: value for chapter in read_executed(executed) for name, value in chapter.glued}

#: Parameters every chapter that declares them must share: they decide the data and the model analysed.
SHARED_PARAMETERS = ("data_path", "profile", "model", "seed", "split")

#: Fields of the run record (``workbook.record``) that every chapter's CNN must share.
SHARED_RECORD = {"data_hash": "data sha256", "profile": "profile", "seed": "seed", "cnn": "CNN"}


def check_together(executed, manifest=None):
    """Refuse executed chapters that do not form one complete workbook run.

    They belong together when: the chapters are those ``run`` listed in ``manifest`` (when given); every code
    cell ran (has an execution count) and none recorded an error; the chapters agree on ``SHARED_PARAMETERS``;
    and the runs they recorded (``workbook.record``) have the same data content hash, profile, seed and CNN,
    and the same CNN run.

    Args:
        executed: ``Executed`` chapters in order.
        manifest: ``run``'s manifest ({"notebooks": [...], ...}) or None.
    Raises:
        WorkbookError: the first problem, naming the notebook that differs and from what.
    """
    again = "; run `fer-workbook run` again to execute the whole workbook"
    names = [chapter.path.name for chapter in executed]
    if manifest is not None and names != manifest.get("notebooks"):
        missing = sorted(set(manifest.get("notebooks", [])) - set(names))
        extra = sorted(set(names) - set(manifest.get("notebooks", [])))
        raise WorkbookError(f"{executed[0].path.parent}: not the notebooks `run` executed together (missing: "
                            f"{', '.join(missing) or 'none'}; not from that run: {', '.join(extra) or 'none'}){again}")
    for chapter in executed:
        for index, cell in enumerate(chapter.notebook.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            failed = next((output for output in cell.get("outputs", []) if output.get("output_type") == "error"), None)
            if failed:
                raise WorkbookError(f"{chapter.path.name}, cell {index}: {failed.get('ename')}: "
                                    f"{failed.get('evalue')}{again}")
            if cell.get("execution_count") is None:
                raise WorkbookError(f"{chapter.path.name}, cell {index} was never executed (the run stopped "
                                    f"before it){again}")
    first = {}
    for chapter in executed:
        for name in SHARED_PARAMETERS:
            if name not in chapter.parameters:
                continue
            other, value = first.setdefault(name, (chapter, chapter.parameters[name]))
            if chapter.parameters[name] != value:
                raise WorkbookError(f"{chapter.path.name} was executed with {name}={chapter.parameters[name]!r}, "
                                    f"{other.path.name} with {name}={value!r}{again}")
    reference = None
    for chapter in executed:
        for record in chapter.records("run"):
            if reference is None:
                reference = (chapter, record)
                continue
            other, expected = reference
            for field, label in SHARED_RECORD.items():
                if record.get(field) != expected.get(field):
                    named = field == "data_hash"  # a hash alone does not tell the user which file
                    raise WorkbookError(f"{chapter.path.name} analysed {label} {_short(record.get(field))}"
                                        f"{_source(record) if named else ''}, {other.path.name} "
                                        f"{_short(expected.get(field))}{_source(expected) if named else ''}{again}")
            if record.get("model") == record.get("cnn") and record.get("run") != expected.get("run"):
                raise WorkbookError(f"{chapter.path.name} analysed the CNN run {record.get('run')}, {other.path.name} "
                                    f"{expected.get('run')}{again}")


def _short(value):
    """A record value for a message: hashes cut to 12 characters."""
    text = str(value)
    return text[:12] if re.fullmatch(r"[0-9a-f]{64}", text) else text


def _source(record):
    return f" ({record['data']})" if record.get("data") else ""


def read_workbook(executed_dir):
    """The executed chapters of ``executed_dir`` as one checked workbook, read under its lock.

    Args:
        executed_dir: a folder ``run`` wrote (with its ``MANIFEST``).
    Returns:
        A list of ``Executed``, in order.
    Raises:
        WorkbookError: no executed notebooks, a folder ``run`` did not write whole, or chapters that do not
            belong together (``check_together``).
    """
    executed_dir = Path(executed_dir)
    with atomic.reading(executed_dir.parent, executed_dir.name):
        try:
            found = notebooks(executed_dir)
        except WorkbookError:
            raise WorkbookError(f"{executed_dir}: no executed notebooks; run `fer-workbook run` first") from None
        manifest_path = executed_dir / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            raise WorkbookError(f"{manifest_path}: missing or unreadable, so {executed_dir} is not a workbook that "
                                "`fer-workbook run` finished; run it again") from None
        executed = read_executed(found)
    check_together(executed, manifest)
    return executed
