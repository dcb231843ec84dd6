"""The workbook pipeline: execute the question notebooks with papermill, render one HTML + PDF report."""

import dataclasses
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fer_utils import paths

#: Chapters are named ``NN-slug.ipynb``; the number gives the order (as in the Python Data Science Handbook).
NOTEBOOK_NAME = re.compile(r"^(\d\d)-[a-z0-9-]+\.ipynb$")
KERNEL_NAME = "fer-workbook"
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
        ValueError: a name no notebook declares, or a value that does not parse as its type.
    """
    declared = {}
    for path in chapters:
        for name, (type_name, _, _) in notebook_parameters(path).items():
            declared.setdefault(name, type_name)
    values = {}
    for name, text in texts.items():
        if name not in declared:
            raise ValueError(f"--param {name}: no notebook has this parameter; known: {', '.join(sorted(declared))}")
        type_name = declared[name]
        try:
            if type_name == "bool":
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                values[name] = text.lower() in ("true", "1")
            elif type_name in ("int", "float"):
                values[name] = {"int": int, "float": float}[type_name](text)
            else:
                values[name] = text
        except ValueError:
            raise ValueError(f"--param {name}={text}: expected {type_name}") from None
    return values


def kernel_name():
    """The project's registered kernel when present (``make setup`` registers it), else ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def run(parameters=None, notebooks_dir=None, out_dir=None, progress=True):
    """Execute the chapter notebooks in order with papermill, writing executed copies to ``out_dir``.

    Args:
        parameters: {name: value} injected into every notebook that declares the name.
        notebooks_dir: where the chapters are (default ``notebooks/``).
        out_dir: where executed copies go (default ``report/executed``), never over the chapters.
        progress: papermill's progress bar over cells.
    Returns:
        The executed notebook paths, in order.
    Raises:
        WorkbookError: a notebook failed; the message names it and the cell.
    """
    import papermill

    chapters = notebooks(notebooks_dir)
    out_dir = Path(out_dir or paths.REPORT_DIR / "executed")
    if out_dir.resolve() == chapters[0].parent.resolve():
        raise WorkbookError(f"{out_dir}: executed copies must not overwrite the committed notebooks")
    out_dir.mkdir(parents=True, exist_ok=True)
    parameters = dict(parameters or {})
    kernel = kernel_name()
    executed = []
    for index, chapter in enumerate(chapters, start=1):
        own = {name: value for name, value in parameters.items() if name in notebook_parameters(chapter)}
        print(f"[{index}/{len(chapters)}] {chapter.name} {own or ''}", file=sys.stderr, flush=True)
        output = out_dir / chapter.name
        try:
            papermill.execute_notebook(str(chapter), str(output), parameters=own, kernel_name=kernel,
                                       cwd=str(chapter.parent), progress_bar=progress)
        except papermill.PapermillExecutionError as error:
            raise WorkbookError(
                f"{chapter.name}, cell {error.cell_index} (In [{error.exec_count}]): {error.ename}: {error.evalue}"
                f" — executed copy with the traceback: {output}"
            ) from None
        executed.append(output)
    return executed


REPORT_CSS = """
@page { size: A4; margin: 16mm 14mm 14mm 14mm; }
body { font-family: "DejaVu Sans", "Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Sans CJK SC", sans-serif;
       font-variant-ligatures: none; }
.fer-banner { text-align: center; font-weight: bold; color: #9a1b1b; background: #fde8e8;
              border: 1px solid #9a1b1b; padding: 1mm; font-size: 9pt; }
.fer-header { border-bottom: 2px solid #333; margin-bottom: 6mm; }
.fer-header table { border-collapse: collapse; }
.fer-header td { padding: 1mm 4mm 1mm 0; }
.fer-question { page-break-before: always; }
.fer-question .zh { font-size: 13pt; font-weight: bold; }
.fer-question .en { font-style: italic; color: #333; }
.jp-Cell, .jp-OutputArea-output { page-break-inside: avoid; }
img { max-width: 100%; }
"""


def _header_html(meta, name, student_id, department):
    """The report's header: identity fields, data source and profile; plus the synthetic-data banner."""
    rows = [("Name 姓名", name), ("Student ID 學號", student_id), ("Department 系級", department),
            ("Data", meta["data"]), ("Profile", meta["profile"])]
    cells = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    banner = ""
    if meta["synthetic"]:
        # on screen: a box under the title; in print: a page-margin box, so it is on every page
        banner = (f'<div class="fer-banner">{SYNTHETIC_BANNER}</div>'
                  f'<style>@page {{ @top-center {{ content: "{SYNTHETIC_BANNER}"; color: #9a1b1b; '
                  f'font-weight: bold; font-size: 9pt; }} }}</style>')
    return (f'{banner}<div class="fer-header"><h1>Facial expression recognition on FER2013 — course report</h1>'
            f"<table>{cells}</table></div>")


def _run_metadata(executed):
    """Data source, profile and whether the data was the embedded synthetic set, from papermill metadata."""
    import nbformat

    notebook = nbformat.read(str(executed[0]), as_version=4)
    parameters = {**{name: default for name, (_, default, _) in notebook_parameters(executed[0]).items()},
                  **notebook.metadata.get("papermill", {}).get("parameters", {})}
    data_path = str(parameters.get("data_path", "")).strip().strip("'\"")
    profile = str(parameters.get("profile", "quick")).strip("'\"")
    synthetic = data_path in ("", "None")
    return {"data": "embedded synthetic face set (seeded)" if synthetic else data_path,
            "profile": profile, "synthetic": synthetic}


def _report_cells(notebook):
    """The cells that go into the report: no parameters cells, no stderr (progress bars, warnings)."""
    cells = []
    for cell in notebook.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"parameters", "injected-parameters", "remove-cell"}:
            continue
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    raise WorkbookError(f"a cell failed: {output.get('ename')}: {output.get('evalue')}")
            cell.outputs = [output for output in cell.get("outputs", [])
                            if not (output.get("output_type") == "stream" and output.get("name") == "stderr")]
        cells.append(cell)
    return cells


def to_html(executed, name=PLACEHOLDER, student_id=PLACEHOLDER, department=PLACEHOLDER):
    """One HTML document: header, then each executed chapter as a section, code hidden.

    Args:
        executed: executed notebook paths in order.
        name, student_id, department: the header's identity fields.
    Returns:
        The HTML text (figures embedded as data URIs, no external resources).
    """
    import nbformat
    from nbconvert import HTMLExporter

    merged = None
    for path in executed:
        notebook = nbformat.read(str(path), as_version=4)
        cells = [nbformat.v4.new_markdown_cell('<div class="fer-question"></div>'), *_report_cells(notebook)]
        if merged is None:
            merged = notebook  # keeps the first chapter's metadata (kernel, language) for the exporter
            merged.cells = []
        merged.cells += cells
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(merged)
    body = re.sub(r"<script[^>]*src=\"https?://[^\"]*\"[^>]*>\s*</script>", "", body)  # offline: no CDN scripts
    head = f"<style>{REPORT_CSS}</style>"
    header = _header_html(_run_metadata(executed), name, student_id, department)
    body = body.replace("</head>", f"{head}</head>", 1)
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


def html_to_pdf(html_path, pdf_path, timeout=180):
    """Print an HTML file to PDF with headless Chromium (text stays text, CJK needs a CJK font installed).

    Raises:
        WorkbookError: no Chromium found (says how to install one) or printing failed.
    """
    browser = find_chromium()
    if browser is None:
        raise WorkbookError("no Chromium or Chrome found for the PDF: on Debian/Ubuntu `apt-get install chromium "
                            "fonts-noto-cjk`; on macOS install Google Chrome; or set FER_CHROMIUM to its path")
    with tempfile.TemporaryDirectory(prefix="fer-chromium-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile}", "--no-pdf-header-footer",
                   f"--print-to-pdf={Path(pdf_path).resolve()}", Path(html_path).resolve().as_uri()]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not Path(pdf_path).exists():
        raise WorkbookError(f"Chromium could not print {html_path}: {result.stderr.strip()[-500:]}")
    return Path(pdf_path)


def render(executed_dir=None, out_dir=None, name=PLACEHOLDER, student_id=PLACEHOLDER, department=PLACEHOLDER,
           pdf=True):
    """Render the executed chapters into ``report.html`` and ``report.pdf``.

    Args:
        executed_dir: folder of executed notebooks (default ``report/executed``).
        out_dir: where the report goes (default ``report/``).
        name, student_id, department: header fields (placeholders by default).
        pdf: also print the PDF.
    Returns:
        (html path, pdf path or None).
    Raises:
        WorkbookError: no executed notebooks (run first), a failed cell, or no Chromium.
    """
    executed_dir = Path(executed_dir or paths.REPORT_DIR / "executed")
    try:
        executed = notebooks(executed_dir)
    except WorkbookError:
        raise WorkbookError(f"{executed_dir}: no executed notebooks; run `fer-workbook run` first") from None
    out_dir = Path(out_dir or paths.REPORT_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / "report.html"
    html_path.write_text(to_html(executed, name, student_id, department), encoding="utf-8")
    pdf_path = html_to_pdf(html_path, out_dir / "report.pdf") if pdf else None
    return html_path, pdf_path


def record(notebooks_dir=None):
    """Re-record the committed notebooks' outputs from a run on their default parameters (quick profile).

    Progress bars and warnings (stderr) and papermill's bookkeeping are dropped, so the committed
    notebooks show the results a reader expects and nbval compares.

    Returns:
        The notebook paths rewritten.
    """
    import nbformat

    chapters = notebooks(notebooks_dir)
    with tempfile.TemporaryDirectory(prefix="fer-record-") as scratch:
        executed = run({}, notebooks_dir=chapters[0].parent, out_dir=scratch)
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
            nbformat.write(notebook, str(chapter))
    return chapters
