"""The workbook pipeline: execute the question notebooks with papermill, render one HTML + PDF report."""

import contextlib
import copy
import dataclasses
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fer_utils import atomic, config, errors, layout, narrative, paths, provenance, quiet

#: Chapters are named ``NN-slug.ipynb``; the number gives the order (as in the Python Data Science Handbook).
NOTEBOOK_NAME = re.compile(r"^(\d\d)-[a-z0-9-]+\.ipynb$")
KERNEL_NAME = "fer-workbook"
#: What `run` writes beside the executed notebooks: their names, the parameters and each one's seconds.
MANIFEST = "workbook.json"
PLACEHOLDER = "(fill in)"
SYNTHETIC_BANNER = "SYNTHETIC DATA — results on generated faces, not on FER2013 合成資料"


@dataclasses.dataclass(frozen=True)
class Question:
    """One report question: the course's Traditional Chinese wording and an English translation."""

    number: int
    zh: str
    en: str


#: The five questions of the ML2017 FER2013 course report (HW3), in the course's own words.
QUESTIONS = (
    Question(1, "請說明你實作的 CNN model，其模型架構、訓練過程和準確率為何？",
             "Describe the CNN model you implemented: its architecture, training process and accuracy."),
    Question(2, "承上題，請用與上述 CNN 接近的參數量，實做簡單的 DNN model。其模型架構、訓練過程和準確率為何？"
                "試與上題結果做比較，並說明你觀察到了什麼？",
             "Following Q1, implement a simple DNN with about the same number of parameters as the CNN. What are its "
             "architecture, training process and accuracy? Compare it with Q1 and explain what you observe."),
    Question(3, "觀察答錯的圖片中，哪些 class 彼此間容易用混？[繪出 confusion matrix 分析]",
             "Looking at the misclassified images, which classes are easily confused with each other? "
             "[Plot and analyse the confusion matrix]"),
    Question(4, "從(1)(2)可以發現，使用 CNN 的確有些好處，試繪出其 saliency maps，觀察模型在做 classification 時，"
                "是 focus 在圖片的哪些部份？",
             "(1) and (2) show that a CNN does have advantages. Plot its saliency maps: which parts of the image "
             "does the model focus on when it classifies?"),
    Question(5, "承(1)(2)，利用上課所提到的 gradient ascent 方法，觀察特定層的 filter 最容易被哪種圖片 activate。",
             "Following (1) and (2), use the gradient ascent method from the lectures to observe which images most "
             "activate the filters of a given layer."),
)


#: The methods the report names, cited where a chapter's text names them ("Simonyan et al. 2013" -> [2]).
REFERENCES = (
    ("Goodfellow et al. 2013", "I. J. Goodfellow et al. Challenges in representation learning: a report on three "
     "machine learning contests (FER2013). ICONIP 2013. arXiv:1307.0414"),
    ("Simonyan et al. 2013", "K. Simonyan, A. Vedaldi, A. Zisserman. Deep inside convolutional networks: visualising "
     "image classification models and saliency maps. arXiv:1312.6034, 2013"),
    ("Smilkov et al. 2017", "D. Smilkov et al. SmoothGrad: removing noise by adding noise. arXiv:1706.03825, 2017"),
    ("Sundararajan et al. 2017", "M. Sundararajan, A. Taly, Q. Yan. Axiomatic attribution for deep networks "
     "(Integrated Gradients). ICML 2017. arXiv:1703.01365"),
    ("Selvaraju et al. 2017", "R. R. Selvaraju et al. Grad-CAM: visual explanations from deep networks via "
     "gradient-based localization. ICCV 2017. arXiv:1610.02391"),
    ("Adebayo et al. 2018", "J. Adebayo et al. Sanity checks for saliency maps. NeurIPS 2018. arXiv:1810.03292"),
    ("Petsiuk et al. 2018", "V. Petsiuk, A. Das, K. Saenko. RISE: randomized input sampling for explanation of "
     "black-box models (deletion metric). BMVC 2018. arXiv:1806.07421"),
    ("Olah et al. 2017", "C. Olah, A. Mordvintsev, L. Schubert. Feature visualization. Distill, 2017. "
     "doi:10.23915/distill.00007"),
)
REPORT_TITLE = "Facial expression recognition on FER2013 — course report (ML2017 HW3)"
REPORT_TITLE_ZH = "FER2013 臉部表情辨識 — 作業報告"
#: Tags of the Jupyter Book convention that decide what the report shows; captions are numbered by the render.
REMOVE_CELL, REMOVE_INPUT, REMOVE_OUTPUT = "remove-cell", "remove-input", "remove-output"
CAPTION_TAGS = {"caption-figure": ("圖", "Figure"), "caption-table": ("表", "Table")}


class WorkbookError(RuntimeError):
    """A notebook failed or the report could not be rendered; the message names the notebook and cell."""


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


#: Printable width of the A4 page in CSS pixels (210 mm minus the 14 mm side margins, 96 px per inch).
PRINT_WIDTH_PX = layout.PRINT_WIDTH_PX

REPORT_CSS = """
@page { size: A4; margin: 16mm 14mm 14mm 14mm; }
body { font-family: "DejaVu Sans", "Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Sans CJK SC", sans-serif;
       font-variant-ligatures: none; font-size: 10pt; }
.jp-Notebook, body.jp-Notebook { padding: 0 !important; }
.jp-Cell { padding: 0 !important; }
.jp-RenderedHTMLCommon { font-size: 9.5pt; line-height: 1.35; padding-right: 0 !important; }
.jp-RenderedHTMLCommon h1 { font-size: 15pt; margin-top: 0; }
.jp-RenderedHTMLCommon h2 { font-size: 12.5pt; margin: 2.5mm 0 1mm; }
.jp-RenderedHTMLCommon h3 { font-size: 10.5pt; margin: 2mm 0 0.5mm; }
.jp-RenderedHTMLCommon p { margin-bottom: 1mm; }
.jp-RenderedHTMLCommon h1, .jp-RenderedHTMLCommon h2, .jp-RenderedHTMLCommon h3, .fer-caption-table
    { break-after: avoid; page-break-after: avoid; }
.jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow-x: visible !important; }
.jp-RenderedHTMLCommon table, .fer-front table { font-size: 7.5pt; border-collapse: collapse; max-width: 100%;
    table-layout: auto; margin: 1mm 0; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { padding: 0.1mm 1.6mm; line-height: 1.2; white-space: normal; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
.fer-caption { font-size: 8.5pt; color: #222; margin: 0.5mm 0 1.2mm; }
.fer-caption b { color: #000; }
.jp-OutputArea-child { break-inside: auto !important; }
img, .jp-RenderedImage, tr { break-inside: avoid; page-break-inside: avoid; }
.fer-figure, .fer-figure-row, .fer-table { break-inside: avoid; page-break-inside: avoid; }
.jp-RenderedHTMLCommon .fer-figure { width: min-content; max-width: 100%; margin: 1mm 0 0.5mm; }
.jp-RenderedHTMLCommon .fer-figure img { max-width: none; display: block; margin: 0; }
.fer-figure-row { display: flex; gap: 4mm; align-items: flex-start; }
.jp-RenderedHTMLCommon .fer-table table { margin-top: 0; }
.fer-front h1 { font-size: 16pt; margin: 2mm 0; }
.fer-front h2 { font-size: 11pt; margin: 3mm 0 1mm; border-bottom: 1px solid #999; }
.fer-front table { width: 100%; }
.fer-front td:first-child { width: 38%; }
.fer-toc { font-size: 9pt; }
.fer-front td, .fer-front th { border: 1px solid #bbb; padding: 0.6mm 2mm; text-align: left; vertical-align: top; }
.fer-front .fer-identity td { border: none; padding: 0.6mm 4mm 0.6mm 0; font-size: 10pt; }
.fer-toc ol { margin: 0; padding-left: 6mm; }
.fer-references { margin-top: 1.5mm; font-size: 7pt; line-height: 1.15; }
.fer-references ol { display: grid; grid-template-columns: 1fr 1fr 1fr; column-gap: 5mm; margin: 0; padding: 0;
                     list-style: none; }
.fer-references h1 { font-size: 10.5pt; margin: 0 0 0.5mm; }
.fer-references li { margin-bottom: 0.3mm; }
.fer-collaborators { margin: 0 0 1mm; }
.fer-computed { font-size: 8pt; color: #555; font-style: italic; margin: 0 0 1mm; }
.fer-banner { text-align: center; font-weight: bold; color: #9a1b1b; background: #fde8e8;
              border: 1px solid #9a1b1b; padding: 1mm; font-size: 9pt; }
.fer-header { border-bottom: 2px solid #333; margin-bottom: 6mm; }
.fer-header table { border-collapse: collapse; }
.fer-header td { padding: 1mm 4mm 1mm 0; }
.fer-question { break-before: page; page-break-before: always; height: 0; }
.fer-front td { vertical-align: middle !important; }
@media print { body { margin: 0; } .jp-OutputArea-output { overflow: visible !important; }
               .fer-banner { display: none; } }
"""


def _printed_width_px(data):
    """The CSS width a PNG prints at: its size in inches at 96 px per inch, at most the text width.

    Its size in inches is its pixel width over the resolution of its pHYs chunk (``plots.DPI`` for the
    workbook's figures, the figure dpi for any matplotlib PNG); a PNG without one counts 96 pixels per inch.

    Args:
        data: the PNG's bytes.
    Returns:
        The width in CSS pixels, or None for bytes that are not a PNG.
    """
    info = layout.png_info(data)
    if info is None:
        return None
    return min(round(info["width"] / (info["dpi"] or 96) * 96), PRINT_WIDTH_PX)


def _image_width(match):
    """An embedded PNG's <img> with its width set to its printed width (``_printed_width_px``)."""
    import base64

    width = _printed_width_px(base64.b64decode(match.group(2)))
    return match.group(0) if width is None else f'{match.group(1)}style="width: {width}px" '


def _scale_figures(body):
    """Every embedded figure printed at its native size in inches, at most the text width.

    A figure of ``fer_utils.plots`` is drawn at its printed size with fonts of at least 7 pt, so on paper its
    text keeps the size it was drawn at.
    """
    embedded = r'(<img (?=[^>]*src="data:image/png;base64,([A-Za-z0-9+/=\s]+)"))'
    return re.sub(embedded, _image_width, body)


def _rows_html(rows, header=None):
    """An HTML table from rows of text (escaped), with an optional header row."""
    head = "<tr>" + "".join(f"<th>{html.escape(cell)}</th>" for cell in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _header_html(meta, name, student_id, department, collaborators=PLACEHOLDER):
    """The report's first page: title, identity, results at a glance, contents and the reproducibility stamp.

    Args:
        meta: ``_run_metadata`` of the executed workbook (with the values the notebooks glued).
        name, student_id, department, collaborators: the header's fields (the course template's 姓名 / 學號 / 系級).
    """
    identity = [("姓名 Name", name), ("學號 Student ID", student_id), ("系級 Department", department),
                ("合作者 Collaborators", collaborators)]
    cells = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>" for k, v in identity)
    banner = ""
    if meta["synthetic"]:
        # on screen: a box under the title; in print: a page-margin box, so it is on every page
        banner = (f'<div class="fer-banner">{SYNTHETIC_BANNER}</div>'
                  f'<style>@page {{ @top-center {{ content: "{SYNTHETIC_BANNER}"; color: #9a1b1b; '
                  f'font-weight: bold; font-size: 9pt; }} }}</style>')
    glance = narrative.glance_rows(meta["glued"])
    this_run = "本次（合成資料）This run (synthetic faces)" if meta["synthetic"] else "本次 This run"
    glance_html = (_rows_html(glance, ("", this_run, "2017 原報告 Original report (FER2013)")) if glance
                   else "<p>(the notebooks recorded no results; run `fer-workbook run` again)</p>")
    if meta["validation_only"]:
        glance_html += ("<p>資料沒有標註好的測試集（課程的 train.csv 就是這樣），本次以驗證集代替 PublicTest / PrivateTest；"
                        "checkpoint 也是依驗證集挑的。The data has no labeled test split (as with the course's "
                        "train.csv): validation stands in for PublicTest and PrivateTest, and the checkpoint was chosen "
                        "on it too.</p>")
    contents = "".join(f'<li><a href="#q{number}">{html.escape(title)}</a></li>' for number, title in meta["titles"])
    contents += '<li><a href="#references">參考文獻 / References</a></li>'
    stamp = narrative.stamp_rows(meta["glued"].get("environment", {}), meta["origin"], meta["profile"], meta["seed"],
                                 meta["wall_seconds"], meta["training"])
    return (f'{banner}<div class="fer-front fer-header"><h1>{html.escape(REPORT_TITLE_ZH)}<br>'
            f'<small>{html.escape(REPORT_TITLE)}</small></h1>'
            f'<table class="fer-identity">{cells}</table>'
            f'<h2>結果一覽 / Results at a glance</h2>{glance_html}'
            f'<h2>目錄 / Contents</h2><nav class="fer-toc"><ol>{contents}</ol></nav>'
            f'<h2>可重現性 / Reproducibility</h2>{_rows_html(stamp)}</div>')


def _references_html():
    """The bibliography, one numbered entry per ``REFERENCES`` item, anchors ``ref-1`` ... for the citations."""
    items = "".join(f'<li id="ref-{number}">[{number}] {html.escape(text)}</li>'
                    for number, (_, text) in enumerate(REFERENCES, start=1))
    return (f'<section class="fer-references jp-RenderedHTMLCommon" id="references"><h1>參考文獻 / References</h1>'
            f"<ol>{items}</ol></section>")


@dataclasses.dataclass
class Executed:
    """One executed chapter, read once.

    Attributes:
        path: the executed notebook.
        notebook: its ``nbformat`` node.
        parameters: the ``parameters`` cell's defaults with the values papermill injected.
        glued: every value it recorded with ``workbook.glue``, as (name, value) in output order.
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

    from fer_utils import workbook

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
                  for name, value in output.get("data", {}).get(workbook.GLUE_MIME, {}).items()]
        chapters.append(Executed(path, notebook, parameters, values))
    return chapters


def glued(executed):
    """The values the executed notebooks recorded with ``workbook.glue``, merged in notebook order.

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


def _run_metadata(executed):
    """Data origin, profile, seed, titles and wall time of the executed workbook, from its first chapter.

    Whether the data are synthetic is decided by the data's origin (``provenance.data_origin``, as the run
    recorded it), not by whether a path was given: ``--data data/synthetic/fer2013.csv.gz`` is synthetic too.

    Args:
        executed: ``Executed`` chapters in order.
    """
    parameters = executed[0].parameters
    data_path = str(parameters.get("data_path") or "")
    profile = str(parameters.get("profile") or config.DEFAULT_PROFILE)
    if not data_path:  # the embedded default, generated by fer_utils.synth (train.load_data)
        source = paths.SYNTHETIC_CSV
        origin = provenance.data_origin(source) if source.exists() else {}
        if not provenance.is_synthetic(origin):
            origin = {"kind": "synthetic", "generator": provenance.SYNTHETIC_GENERATOR, "seed": 0, "path": str(source)}
    else:
        source = paths.resolve(data_path)
        origin = provenance.data_origin(source) if source.exists() else {"kind": "file", "path": str(source)}
    values = glued(executed)
    origin = values.get("origin") or origin  # the run's own record, when the notebooks glued it
    synthetic = provenance.is_synthetic(origin)
    durations = [chapter.notebook.metadata.get("papermill", {}).get("duration") for chapter in executed]
    started = executed[0].notebook.metadata.get("papermill", {}).get("start_time")
    training = {}
    for chapter in executed:  # each run once, in order: (model, training seconds, reused from before this workbook)
        for record in chapter.records("run"):
            if record.get("run") not in training and record.get("train_seconds") is not None:
                reused = bool(started and record.get("finished") and record["finished"] < started)
                training[record["run"]] = (record["model"], record["train_seconds"], reused)
    cnn = values.get("cnn", {})
    return {"titles": [(chapter.number, chapter.title) for chapter in executed],
            "profile": profile, "synthetic": synthetic, "origin": origin, "glued": values,
            "seed": str(parameters.get("seed", 0)),
            "wall_seconds": sum(durations) if durations and all(durations) else None,
            "training": list(training.values()),
            "validation_only": bool(cnn) and not ({"PublicTest", "PrivateTest", "Test"} & set(cnn.get("splits", {})))}


def _cite(text):
    """Markdown text with each ``REFERENCES`` name followed by its number, linked to the bibliography."""
    for number, (cited, _) in enumerate(REFERENCES, start=1):
        text = text.replace(cited, f"{cited} [[{number}]](#ref-{number})")
    return text


#: The student's own 說明 (a markdown cell, empty in the committed notebooks) and the computed one after it.
STUDENT_EXPLANATION, COMPUTED_EXPLANATION = "student-explanation", "computed-explanation"
COMPUTED_NOTE = ('<p class="fer-computed">（以下由本次結果自動產生 / computed from this run\'s numbers; '
                 "write your own in the notebook's 說明 cell）</p>")
KEY_NUMBERS_HEADING = "#### 數據重點 / Key numbers"


def student_text(source):
    """A student's 說明 cell without its HTML comments (the committed cell holds only a comment)."""
    return re.sub(r"<!--.*?-->", "", source, flags=re.S).strip()


def _report_cells(notebook, counters=None):
    """The cells that go into the report, chosen by their tags (the Jupyter Book convention).

    A markdown cell tagged ``student-explanation`` prints as the student wrote it, and the computed explanation
    after it (tagged ``computed-explanation``) under 「數據重點 / Key numbers」; left empty, it prints a note
    that the computed explanation below stands in for it.

    ``remove-cell`` drops a cell, ``remove-input`` its code (all code is hidden anyway), ``remove-output`` its
    outputs; papermill's ``parameters``/``injected-parameters`` cells and stderr (progress bars, warnings) never
    show. Markdown cells tagged ``caption-figure``/``caption-table`` become numbered captions (圖 n / Figure n),
    counted across chapters in ``counters``, each folded into one block with its figure or table so that the two
    print on the same page (``_group_captions``); citations of ``REFERENCES`` get their numbers.

    Raises:
        WorkbookError: a cell recorded an error.
    """
    import nbformat

    counters = counters if counters is not None else {}
    cells = []
    student_wrote = False
    for cell in notebook.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if STUDENT_EXPLANATION in tags:  # the student's 說明 prints as written; empty, the computed one stands in
            text = student_text(cell.source)
            student_wrote = bool(text)
            cells.append(nbformat.v4.new_markdown_cell(_cite(text) if text else COMPUTED_NOTE))
            continue
        if COMPUTED_EXPLANATION in tags and student_wrote and cell.get("outputs"):
            cells.append(nbformat.v4.new_markdown_cell(KEY_NUMBERS_HEADING))
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    raise WorkbookError(f"a cell failed: {output.get('ename')}: {output.get('evalue')}")
        if tags & {"parameters", "injected-parameters", REMOVE_CELL}:
            continue
        if cell.cell_type == "code":
            cell.outputs = [] if REMOVE_OUTPUT in tags else [
                output for output in cell.get("outputs", [])
                if not (output.get("output_type") == "stream" and output.get("name") == "stderr")]
            if not cell.outputs:
                continue
        elif cell.cell_type == "markdown":
            caption = next((CAPTION_TAGS[tag] for tag in sorted(tags) if tag in CAPTION_TAGS), None)
            if caption:
                kind = caption[1]
                counters[kind] = counters.get(kind, 0) + 1
                number = counters[kind]
                text = f"<b>{caption[0]} {number} / {kind} {number}.</b> {html.escape(cell.source.strip())}"
                cell = nbformat.v4.new_markdown_cell(f'<p class="fer-caption fer-caption-{kind.lower()}">{text}</p>',
                                                     metadata={CAPTION_KEY: {"kind": kind, "text": text}})
            else:
                cell.source = _cite(cell.source)
        cells.append(cell)
    return _group_captions(cells)


#: Cell metadata the report adds: a caption's kind and text, the printed widths of a cell's folded figures.
CAPTION_KEY, FIGURES_KEY = "fer_caption", "fer_figures"
#: Space between two figures printed side by side (``.fer-figure-row``'s gap of 4 mm) in CSS pixels.
FIGURE_GAP_PX = 16


def _group_captions(cells):
    """Each caption folded into the cell of its figure or table, so they print as one block on one page.

    A figure caption follows its figure: it joins the shown cell before it when that cell drew images, as one
    ``<figure class="fer-figure">`` of the images and a ``<figcaption>`` (``_fold_figure``); two such figures in
    a row that fit the text width side by side share a row (``_pair_figures``). A table caption precedes its
    table: it joins the code cell after it (``_fold_table``). A caption with neither stays a paragraph.

    Args:
        cells: the report's cells, captions as markdown cells carrying ``CAPTION_KEY`` metadata.
    Returns:
        The cells with the folded captions removed.
    """
    grouped = []
    for index, cell in enumerate(cells):
        caption = cell.get("metadata", {}).get(CAPTION_KEY)
        following = cells[index + 1] if index + 1 < len(cells) else None
        if caption and caption["kind"] == "Table" and following is not None and following.cell_type == "code":
            _fold_table(following, caption["text"])
            continue
        if caption and caption["kind"] == "Figure" and grouped and _fold_figure(grouped[-1], caption["text"]):
            _pair_figures(grouped)
            continue
        grouped.append(cell)
    return grouped


def _fold_figure(cell, caption):
    """Replace a code cell's images by one ``<figure>`` of them with ``caption`` (HTML) as its ``<figcaption>``.

    The images keep their place among the cell's outputs; their alt text is the caption's text.

    Returns:
        True when the cell drew images (and now holds the figure), else False (the cell is left as it was).
    """
    import base64

    import nbformat

    images = [output for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]
    if not images:
        return False
    alt = html.escape(html.unescape(re.sub(r"<[^>]+>", "", caption)))
    sources = ["".join(output.data["image/png"].split()) for output in images]
    pictures = "".join(f'<img alt="{alt}" src="data:image/png;base64,{source}">' for source in sources)
    figure = nbformat.v4.new_output("display_data", data={"text/html": (
        f'<figure class="fer-figure">{pictures}<figcaption class="fer-caption fer-caption-figure">{caption}'
        "</figcaption></figure>")})
    position = cell.outputs.index(images[0])
    cell.outputs = cell.outputs[:position] + [figure] + [
        output for output in cell.outputs[position:] if "image/png" not in output.get("data", {})]
    cell.metadata[FIGURES_KEY] = [sum(_printed_width_px(base64.b64decode(source)) or 0 for source in sources)]
    return True


def _pair_figures(cells):
    """Print the last two cells' figures side by side when each holds one figure, alone at the end of its cell,
    and together they fit the text width (two half-width plots): the second moves into the first cell, in a
    ``.fer-figure-row``."""
    if len(cells) < 2:
        return
    first, second = cells[-2], cells[-1]
    widths = [cell.get("metadata", {}).get(FIGURES_KEY, []) for cell in (first, second)]
    if [len(each) for each in widths] != [1, 1] or len(second.outputs) != 1 \
            or sum(widths[0] + widths[1]) + FIGURE_GAP_PX > PRINT_WIDTH_PX \
            or not first.outputs[-1].get("data", {}).get("text/html", "").startswith("<figure"):
        return
    first.outputs[-1].data["text/html"] = (f'<div class="fer-figure-row">{first.outputs[-1].data["text/html"]}'
                                           f'{second.outputs[0].data["text/html"]}</div>')
    first.metadata[FIGURES_KEY] = widths[0] + widths[1]
    cells.pop()


def _fold_table(cell, caption):
    """Put a table caption (HTML) into the code cell of its table: with the table in one ``.fer-table`` block
    when the cell's first output is HTML (a DataFrame), else as the cell's first output."""
    import nbformat

    paragraph = f'<p class="fer-caption fer-caption-table">{caption}</p>'
    first = cell.outputs[0] if cell.get("outputs") else None
    if first is not None and "text/html" in first.get("data", {}):
        first.data["text/html"] = f'<div class="fer-table">{paragraph}{first.data["text/html"]}</div>'
    else:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": paragraph}), *cell.get("outputs", [])]


def to_html(executed, name=PLACEHOLDER, student_id=PLACEHOLDER, department=PLACEHOLDER, collaborators=PLACEHOLDER):
    """One HTML document: the first page, then each executed chapter as a section, code hidden, references.

    Args:
        executed: executed notebook paths (or ``Executed`` chapters) in order.
        name, student_id, department, collaborators: the header's fields (collaborators also under each question).
    Returns:
        The HTML text (figures embedded as data URIs, no external resources).
    """
    import nbformat
    from nbconvert import HTMLExporter

    chapters = read_executed(executed)
    merged = None
    counters = {}
    for chapter in chapters:
        collaborators_line = nbformat.v4.new_markdown_cell(
            f'<p class="fer-collaborators"><b>Collaborators 合作者：</b>{html.escape(collaborators)}</p>')
        notebook = copy.deepcopy(chapter.notebook)
        try:
            shown = _report_cells(notebook, counters)
        except WorkbookError as error:
            raise WorkbookError(f"{chapter.path.name}: {error}") from None
        cells = [nbformat.v4.new_markdown_cell(f'<div class="fer-question" id="q{chapter.number}"></div>'),
                 *shown[:1], collaborators_line, *shown[1:]]
        if merged is None:
            merged = notebook  # keeps the first chapter's metadata (kernel, language) for the exporter
            merged.cells = []
        merged.cells += cells
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(merged)
    body = re.sub(r"<script[^>]*src=\"https?://[^\"]*\"[^>]*>\s*</script>", "", body)  # offline: no CDN scripts
    head = f"<style>{REPORT_CSS}</style>"
    header = _header_html(_run_metadata(chapters), name, student_id, department, collaborators)
    body = body.replace("</head>", f"{head}</head>", 1)
    body = re.sub(r"<title>[^<]*</title>", f"<title>{html.escape(REPORT_TITLE)}</title>", body, count=1)
    body = _scale_figures(body.replace("</body>", f"{_references_html()}</body>", 1))
    return re.sub(r"(<body[^>]*>)", lambda match: match.group(1) + header, body, count=1)


def find_chromium():
    """Path of a Chromium/Chrome executable (``FER_CHROMIUM`` overrides), or None."""
    candidates = [os.environ.get("FER_CHROMIUM"), "chromium", "chromium-browser", "google-chrome",
                  "google-chrome-stable",
                  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
                  "/Applications/Chromium.app/Contents/MacOS/Chromium",
                  r"C:\Program Files\Google\Chrome\Application\chrome.exe"]
    for candidate in filter(None, candidates):
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            return found
    return None


def html_to_pdf(html_path, pdf_path, timeout=180, profile_dir=None):
    """Print an HTML file to PDF with headless Chromium (text stays text, CJK needs a CJK font installed).

    The PDF gets an outline (bookmarks) from the headings (Chromium's ``--generate-pdf-document-outline``).

    Args:
        html_path, pdf_path: the page and the PDF to write.
        timeout: seconds before Chromium is given up.
        profile_dir: Chromium's throw-away profile folder (deleted afterwards); default a temporary folder.
    Raises:
        WorkbookError: no Chromium found (says how to install one) or printing failed.
    """
    browser = find_chromium()
    if browser is None:
        raise WorkbookError("no Chromium or Chrome found for the PDF: on Debian/Ubuntu `apt-get install chromium "
                            "fonts-noto-cjk`; on macOS install Google Chrome; or set FER_CHROMIUM to its path")
    with contextlib.ExitStack() as stack:
        if profile_dir is None:
            profile_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="fer-chromium-"))
        else:
            stack.callback(shutil.rmtree, profile_dir, ignore_errors=True)
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile_dir}", "--no-pdf-header-footer", "--generate-pdf-document-outline",
                   f"--print-to-pdf={Path(pdf_path).resolve()}", Path(html_path).resolve().as_uri()]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WorkbookError(f"Chromium did not print {html_path} within {timeout} s") from None
    if result.returncode != 0 or not Path(pdf_path).exists():
        raise WorkbookError(f"Chromium could not print {html_path}: {result.stderr.strip()[-500:]}")
    return Path(pdf_path)


def set_pdf_metadata(pdf_path, title, author, subject):
    """Write the PDF's Title, Author and Subject (Chromium leaves the HTML title, or "Notebook"), keeping the outline.

    The file is rewritten atomically (``paths.atomic_write``).
    """
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(str(pdf_path)))
    writer.add_metadata({"/Title": title, "/Subject": subject, **({"/Author": author} if author else {})})
    with paths.atomic_write(pdf_path, "wb") as handle:
        writer.write(handle)
    return Path(pdf_path)


class LayoutError(WorkbookError):
    """The report was written, but its layout check (``fer_utils.layout``) found problems.

    Attributes:
        problems: the problems, as ``layout.layout_problems`` returns them.
    """

    def __init__(self, html_path, problems):
        super().__init__("\n".join([f"{html_path}: the layout check found {len(problems)} problem(s)",
                                    *map(layout.describe, problems)]))
        self.problems = problems


def render(executed_dir=None, out_dir=None, name=PLACEHOLDER, student_id=PLACEHOLDER, department=PLACEHOLDER,
           pdf=True, collaborators=PLACEHOLDER, check=False):
    """Render the executed chapters into ``report.html`` and ``report.pdf``, which replace the old pair together.

    The executed folder is read under its lock and checked (``read_workbook``: a set ``run`` finished, whose
    chapters belong together). Both files are built in a staging folder in ``out_dir`` (Chromium's profile too)
    and moved into place in one commit (``fer_utils.atomic.Staging``): a failed or killed render leaves the old
    pair as it was, and the next render removes what it left. Without a PDF, an older ``report.pdf`` is removed
    in the same commit, so the two never describe different runs.

    Args:
        executed_dir: folder of executed notebooks (default ``report/executed``).
        out_dir: where the report goes (default ``report/``).
        name, student_id, department: header fields (placeholders by default).
        pdf: also print the PDF (with Title, Author = the name when given, Subject and an outline).
        collaborators: the Collaborators line of the header and of each question.
        check: run the layout check (``layout.layout_problems``) on the new report, which is written either way.
    Returns:
        (html path, pdf path or None).
    Raises:
        WorkbookError: no executed notebooks (run first), chapters that do not belong together, or no Chromium.
        LayoutError: with ``check``, the report was written and the check found problems (listed in it).
    """
    executed = read_workbook(Path(executed_dir or paths.REPORT_DIR / "executed"))
    out_dir = Path(out_dir or paths.REPORT_DIR)
    with atomic.Staging(out_dir, "report") as stage:
        staged_html = stage.path / "report.html"
        with paths.atomic_write(staged_html, "w") as handle:
            handle.write(to_html(executed, name, student_id, department, collaborators))
        printed = None
        if pdf:
            printed = html_to_pdf(staged_html, stage.path / "report.pdf", profile_dir=stage.path / "chromium")
            set_pdf_metadata(printed, REPORT_TITLE, name if name != PLACEHOLDER else "",
                             "FER2013 Q1-Q5: CNN, DNN, confusion matrix, saliency maps, gradient ascent")
        shutil.rmtree(stage.path / "chromium", ignore_errors=True)
        problems = layout.layout_problems(staged_html, printed) if check else []
        stage.commit(remove=() if pdf else ("report.pdf",))
    if problems:
        raise LayoutError(out_dir / "report.html", problems)
    return out_dir / "report.html", (out_dir / "report.pdf") if pdf else None


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
