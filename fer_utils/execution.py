"""Executing the question notebooks: papermill runs them in order on the project's kernel into a staging folder
that replaces the executed set as one unit (``run``); ``record`` re-records the committed notebooks."""

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from fer_utils import atomic, config, errors, paths, quiet
from fer_utils.errors import WorkbookError

#: Chapters are named ``NN-slug.ipynb``; the number gives the order (as in the Python Data Science Handbook).
NOTEBOOK_NAME = re.compile(r"^(\d\d)-[a-z0-9-]+\.ipynb$")
KERNEL_NAME = "fer-workbook"
#: What `run` writes beside the executed notebooks: their names, the parameters and each one's seconds.
MANIFEST = "workbook.json"


def notebooks(directory=None):
    """The chapter notebooks in order (``NN-slug.ipynb``).

    Raises:
        WorkbookError: no chapter notebook in the folder.
    """
    directory = Path(directory or paths.NOTEBOOKS_DIR)
    found = sorted(path for path in directory.glob("*.ipynb") if NOTEBOOK_NAME.match(path.name))
    if not found:
        raise WorkbookError(f"{directory}: no notebooks named NN-slug.ipynb")
    return found


def notebook_parameters(path):
    """{name: (inferred type name, default text, help)} of a notebook's ``parameters`` cell."""
    import papermill

    return {name: (spec["inferred_type_name"], spec["default"], spec["help"])
            for name, spec in papermill.inspect_notebook(str(path)).items()}


def coerce_parameters(texts, chapters):
    """Turn ``--param`` texts into typed values using the types declared in the notebooks.

    Args:
        texts: {name: text} from the command line.
        chapters: the notebook paths.
    Returns:
        {name: typed value}.
    Raises:
        fer_utils.errors.InputError: a name no notebook declares, or a value that does not parse as its type
        (``config.parse_text``, the same parser as the training settings').
    """
    declared = {}
    for path in chapters:
        for name, (type_name, _, _) in notebook_parameters(path).items():
            declared.setdefault(name, type_name)
    values = {}
    for name, text in texts.items():
        if name not in declared:
            raise errors.InputError(f"--param {name}: no notebook has this parameter; known: {', '.join(sorted(declared))}")
        values[name] = config.parse_text(name, text, declared[name])
    return values


def kernel_name():
    """The project's registered kernel when present (``make setup`` registers it), else ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def run(parameters=None, notebooks_dir=None, out_dir=None, progress=True):
    """Execute the chapter notebooks in order with papermill; the executed copies replace ``out_dir`` as one set.

    The copies are written into a staging folder beside ``out_dir`` (``fer_utils.atomic.Staging``) and swapped
    into place only when every chapter has finished, with ``MANIFEST`` beside them: a failed, interrupted or
    killed run leaves the previous complete set untouched, and a ``render`` in the meantime reads that set.

    Args:
        parameters: {name: value} injected into every notebook that declares the name.
        notebooks_dir: where the chapters are (default ``notebooks/``).
        out_dir: where executed copies go (default ``report/executed``), never over the chapters.
        progress: show the notebooks' own progress bars and messages (their kernel's stderr, streamed
            here as it comes: an hour of training shows its epochs, not a frozen bar over cells).
    Returns:
        The executed notebook paths, in order.
    Raises:
        WorkbookError: a notebook failed; the message names it and the cell, and where its executed copy
            with the traceback was kept (``<out_dir>-failed/``).
    """
    import papermill

    chapters = notebooks(notebooks_dir)
    out_dir = Path(out_dir or paths.REPORT_DIR / "executed")
    if out_dir.resolve() == chapters[0].parent.resolve():
        raise WorkbookError(f"{out_dir}: executed copies must not overwrite the committed notebooks")
    parameters = dict(parameters or {})
    kernel = kernel_name()
    durations = {}
    with atomic.Staging(out_dir.parent, out_dir.name) as stage:
        staged = stage.path / out_dir.name
        staged.mkdir()
        for index, chapter in enumerate(chapters, start=1):
            own = {name: value for name, value in parameters.items() if name in notebook_parameters(chapter)}
            print(f"[{index}/{len(chapters)}] {chapter.name} {own or ''}", file=sys.stderr, flush=True)
            output = staged / chapter.name
            started = time.monotonic()
            try:
                papermill.execute_notebook(str(chapter), str(output), parameters=own, kernel_name=kernel,
                                           cwd=str(chapter.parent), progress_bar=False,
                                           **({"stderr_file": sys.stderr} if progress else {}),
                                           **quiet.kernel_options())
            except KeyboardInterrupt:  # the kernel runs in its own session: Ctrl-C reaches this process only
                raise KeyboardInterrupt(
                    f"interrupted in {chapter.name}; {_left_as_it_was(out_dir)}; run the same command again "
                    "(finished training is reused, interrupted training resumes after its last epoch)") from None
            except papermill.PapermillExecutionError as error:
                kept = _keep_failed(output, out_dir)
                raise WorkbookError(
                    f"{chapter.name}, cell {error.cell_index} (In [{error.exec_count}]): {error.ename}: "
                    f"{error.evalue} — executed copy with the traceback: {kept}; {_left_as_it_was(out_dir)}") from None
            durations[chapter.name] = time.monotonic() - started
            print(f"[{index}/{len(chapters)}] {chapter.name} done in {duration(durations[chapter.name])}",
                  file=sys.stderr, flush=True)
        with paths.atomic_write(staged / MANIFEST, "w") as handle:
            handle.write(json.dumps({"notebooks": [chapter.name for chapter in chapters], "parameters": parameters,
                                     "seconds": durations}, indent=1, default=str))
        stage.commit()
    return [out_dir / chapter.name for chapter in chapters]


def _left_as_it_was(out_dir):
    """What a run that did not finish left in ``out_dir``, for its message."""
    if (out_dir / MANIFEST).exists():
        return f"{out_dir} still holds the previous complete run"
    return f"nothing was written to {out_dir}"


def _keep_failed(output, out_dir):
    """Move a failed chapter's executed copy out of the staging folder to ``<out_dir>-failed/``; its new path."""
    kept = out_dir.with_name(out_dir.name + "-failed") / output.name
    kept.parent.mkdir(parents=True, exist_ok=True)
    os.replace(output, kept)
    return kept


def duration(seconds):
    """Seconds as "42 s", "3 min 05 s" or "1 h 02 min"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def record(notebooks_dir=None):
    """Re-record the committed notebooks' outputs from a run on their default parameters (quick profile).

    Progress bars and warnings (stderr) and papermill's bookkeeping are dropped, and paths are made
    project-relative, so the committed notebooks show the results a reader expects and nbval compares.

    Returns:
        The notebook paths rewritten.
    """
    import nbformat

    chapters = notebooks(notebooks_dir)
    with tempfile.TemporaryDirectory(prefix="fer-record-") as scratch:
        executed = run({}, notebooks_dir=chapters[0].parent, out_dir=Path(scratch) / "executed")
        for chapter, path in zip(chapters, executed):
            notebook = nbformat.read(str(path), as_version=4)
            notebook.cells = [cell for cell in notebook.cells
                              if "injected-parameters" not in cell.metadata.get("tags", [])]
            for cell in notebook.cells:
                cell.metadata.pop("papermill", None)
                cell.metadata.pop("execution", None)
                if cell.cell_type == "code":
                    cell.outputs = [output for output in cell.outputs
                                    if not (output.output_type == "stream" and output.name == "stderr")]
            notebook.metadata.pop("papermill", None)
            nbformat.write(_project_relative(notebook), str(chapter))
    return chapters


def _project_relative(notebook):
    """``notebook`` with the project's absolute path cut out of its text: recorded outputs name files by
    project-relative paths (``data/synthetic/fer2013.csv.gz``), so no maintainer's folder is committed."""
    import nbformat

    root = json.dumps(str(paths.PROJECT_ROOT) + os.sep)[1:-1]  # as it is written inside JSON strings
    return nbformat.reads(nbformat.writes(notebook).replace(root, ""), as_version=4)
