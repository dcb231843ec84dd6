"""The report as one HTML document: the references, the first page (results at a glance,
contents, reproducibility stamp), each executed chapter's shown cells with numbered captions folded into
their figures and tables, and the stylesheet (``report.css``, package data)."""

import copy
import html
import re
from pathlib import Path

from fer_utils import config, layout, narrative, paths, provenance
from fer_utils.chapters import glued, read_executed
from fer_utils.errors import WorkbookError

PLACEHOLDER = "(fill in)"
SYNTHETIC_BANNER = "SYNTHETIC DATA — results on generated faces, not on FER2013 合成資料"


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
    ("Zhang et al. 2016", "K. Zhang, Z. Zhang, Z. Li, Y. Qiao. Joint face detection and alignment using multitask "
     "cascaded convolutional networks (MTCNN). IEEE Signal Processing Letters, 2016. arXiv:1604.02878"),
)
#: Chapters numbered from here on are appendices (``06-your-faces``): after the references, without the
#: Collaborators line, outside the questions' page budget.
FIRST_APPENDIX = 6
REPORT_TITLE = "Facial expression recognition on FER2013 — course report (ML2017 HW3)"
REPORT_TITLE_ZH = "FER2013 臉部表情辨識 — 作業報告"
#: Tags of the Jupyter Book convention that decide what the report shows; captions are numbered by the render.
REMOVE_CELL, REMOVE_INPUT, REMOVE_OUTPUT = "remove-cell", "remove-input", "remove-output"
CAPTION_TAGS = {"caption-figure": ("圖", "Figure"), "caption-table": ("表", "Table")}

#: Printable width of the A4 page in CSS pixels (210 mm minus the 14 mm side margins, 96 px per inch).
PRINT_WIDTH_PX = layout.PRINT_WIDTH_PX
#: The report's stylesheet: A4 pages, fonts (CJK included), figures, captions, tables and the first page.
REPORT_CSS = (Path(__file__).with_name("report.css")).read_text(encoding="utf-8")


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
    entries = [(number, f'<li{"" if number < FIRST_APPENDIX else " class=fer-unnumbered"}><a href="#q{number}">'
                        f'{html.escape(title)}</a></li>') for number, title in meta["titles"]]
    entries.append((FIRST_APPENDIX - 0.5, '<li class="fer-unnumbered"><a href="#references">參考文獻 / References</a></li>'))
    contents = "".join(entry for _, entry in sorted(entries, key=lambda item: item[0]))  # appendices last
    stamp = narrative.stamp_rows(meta["glued"].get("environment", {}), meta["origin"], meta["profile"], meta["seed"],
                                 meta["wall_seconds"], meta["training"], meta["precision"])
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
            "precision": next((record.get("precision", "") for chapter in executed for record in chapter.records("run")
                               if record.get("model") != "dnn"), ""),
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
    references = nbformat.v4.new_markdown_cell(_references_html())  # after the questions, before any appendix
    for chapter in chapters:
        collaborators_line = nbformat.v4.new_markdown_cell(
            f'<p class="fer-collaborators"><b>Collaborators 合作者：</b>{html.escape(collaborators)}</p>')
        notebook = copy.deepcopy(chapter.notebook)
        try:
            shown = _report_cells(notebook, counters)
        except WorkbookError as error:
            raise WorkbookError(f"{chapter.path.name}: {error}") from None
        appendix = chapter.number >= FIRST_APPENDIX
        cells = [nbformat.v4.new_markdown_cell(f'<div class="fer-question" id="q{chapter.number}"></div>'),
                 *shown[:1], *([] if appendix else [collaborators_line]), *shown[1:]]
        if merged is None:
            merged = notebook  # keeps the first chapter's metadata (kernel, language) for the exporter
            merged.cells = []
        if appendix and references is not None:
            merged.cells.append(references)
            references = None
        merged.cells += cells
    if references is not None:
        merged.cells.append(references)
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(merged)
    body = re.sub(r"<script[^>]*src=\"https?://[^\"]*\"[^>]*>\s*</script>", "", body)  # offline: no CDN scripts
    head = f"<style>{REPORT_CSS}</style>"
    header = _header_html(_run_metadata(chapters), name, student_id, department, collaborators)
    body = body.replace("</head>", f"{head}</head>", 1)
    body = re.sub(r"<title>[^<]*</title>", f"<title>{html.escape(REPORT_TITLE)}</title>", body, count=1)
    body = _scale_figures(body)
    return re.sub(r"(<body[^>]*>)", lambda match: match.group(1) + header, body, count=1)
