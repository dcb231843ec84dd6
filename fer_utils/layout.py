"""The report's layout check: what a reader of the printed A4 pages would find too small, cut off, raw or apart.

Everything is measured on the rendered report, not on the settings meant to produce it:

* overflow: Chromium lays the HTML out at the printed text width; a table or figure wider than that is listed;
* figures: each figure's smallest text at its printed size, from the font and width its PNG records
  (``plots.png``) and the width it has on the printed PDF (poppler's ``pdfimages``); the confusion matrix's
  printed width;
* tables: cells printed the way Python prints them (``10.000``, ``True``, ``integrated_gradients``, a
  positional index);
* captions: a figure's caption and its figure, a table's caption and the start of its table, on the same printed
  page (poppler's ``pdftotext -bbox``).

Each problem is a dict with a ``kind`` and what is needed to find it; ``describe`` makes it one line.
"""

import base64
import html
import json
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

#: The A4 page's text width: 210 mm minus the 14 mm side margins of ``report.REPORT_CSS``.
TEXT_WIDTH_MM = 210 - 2 * 14
TEXT_WIDTH_IN = TEXT_WIDTH_MM / 25.4
#: The text width in CSS pixels (96 per inch).
PRINT_WIDTH_PX = round(TEXT_WIDTH_IN * 96)
#: The smallest text a figure may print, in points.
MIN_FONT_PT = 7.0
#: The confusion matrix prints at least this share of the text width.
CONFUSION_MIN_SHARE = 0.7
CONFUSION_KIND = "confusion_heatmap"
#: PNG text chunks ``plots.png`` writes: the plots function that drew the figure, its width in inches and its
#: smallest font in points ("none" for a figure without text).
KIND_KEY, WIDTH_KEY, FONT_KEY = "fer-kind", "fer-width-in", "fer-min-font-pt"
#: Table cells as Python prints them: an integer with decimals, Python's constants, a cell that is a snake_case
#: code name (words joined by underscores, as a DataFrame's keys; a part that is a number, as in the Keras layer
#: name conv1_1, is not a word; a name inside a sentence is prose, not a key).
INTEGER_WITH_DECIMALS = re.compile(r"[-+]?\d[\d,]*\.0{2,}")
PYTHON_VALUES = {"True", "False", "None", "NaN", "nan", "<NA>", "NaT"}
CODE_NAME = re.compile(r"[A-Za-z]+\d*(?:_[A-Za-z]+\d*)+")
#: A column headed so holds names a reader looks up in the model as Keras prints them (``dense_out``).
NAME_COLUMNS = {"layer"}


def png_info(data):
    """The size, resolution and text chunks of a PNG, read from the chunks before its image data.

    Args:
        data: the PNG file's bytes (at least up to its first IDAT chunk).
    Returns:
        {"width": pixels, "height": pixels, "dpi": pixels per inch from the pHYs chunk or None,
         "text": {keyword: text} of its tEXt chunks}, or None for bytes that are not a PNG.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    info = {"width": width, "height": height, "dpi": None, "text": {}}
    position = 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"tEXt" and b"\0" in body:
            keyword, text = body.split(b"\0", 1)
            info["text"][keyword.decode("latin-1")] = text.decode("latin-1")
        elif kind == b"pHYs" and len(body) == 9 and body[8] == 1:  # unit 1: pixels per metre
            info["dpi"] = struct.unpack(">I", body[:4])[0] * 0.0254
        position += 12 + length
    return info


def _text(fragment):
    """The text of an HTML fragment: tags dropped, entities decoded, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _caption_number(text, kind):
    """The number of a caption "圖 3 / Figure 3. …" (kind "Figure" or "Table"), or None."""
    found = re.search(rf"\b{kind} (\d+)\.", text)
    return int(found.group(1)) if found else None


def _captions(text, kind):
    """(position, number, text) of each caption element of ``kind`` ("figure" or "table") in the HTML, in order."""
    pattern = rf'<(\w+)[^>]*class="[^"]*\bfer-caption-{kind}\b[^"]*"[^>]*>(.*?)</\1>'
    return [(match.start(), _caption_number(_text(match.group(2)), kind.title()), _text(match.group(2)))
            for match in re.finditer(pattern, text, re.S)]


def report_images(text):
    """The embedded PNG images of a report's HTML, in document order, with the figure caption each belongs to.

    An image inside a ``<figure>`` belongs to its ``<figcaption>``; any other image to the figure caption
    (``fer-caption-figure``) after it when no other image comes first (a caption follows its figure).

    Args:
        text: the HTML.
    Returns:
        A list of {"index" (1-based), "figure": the caption's number or None, "png": ``png_info`` or None}.
    """
    groups = [(match.start(), match.end()) for match in re.finditer(r"<figure\b.*?</figure>", text, re.S)]
    captions = _captions(text, "figure")
    found = [(match, re.search(r'src="data:image/png;base64,([^"]*)"', match.group(0)))
             for match in re.finditer(r"<img\b[^>]*>", text)]
    found = [(match.start(), source.group(1)) for match, source in found if source]
    images = []
    for index, (start, source) in enumerate(found):
        group = next((end for begin, end in groups if begin < start < end), None)
        limit = group or (found[index + 1][0] if index + 1 < len(found) else len(text))
        number = next((number for position, number, _ in captions if start < position < limit), None)
        try:
            info = png_info(base64.b64decode(source))
        except ValueError:  # base64's binascii.Error is one
            info = None
        images.append({"index": index + 1, "figure": number, "png": info})
    return images


def report_tables(text):
    """The tables of a report's HTML with their captions, in document order.

    A table's caption is the last ``fer-caption-table`` element between the previous table and it.

    Args:
        text: the HTML.
    Returns:
        A list of {"index" (1-based), "table": the caption's number or None, "caption": its text or "",
        "rows": [[cell text, ...], ...], "header": [True if the row is all <th>, ...]}.
    """
    tables, previous_end, captions = [], 0, _captions(text, "table")
    for match in re.finditer(r"<table\b.*?</table>", text, re.S):
        number, caption = next(((number, caption) for position, number, caption in reversed(captions)
                                if previous_end <= position < match.start()), (None, ""))
        rows, header = [], []
        for row in re.findall(r"<tr\b.*?</tr>", match.group(0), re.S):
            cells = re.findall(r"<(t[hd])\b[^>]*>(.*?)</\1>", row, re.S)
            rows.append([_text(cell) for _, cell in cells])
            header.append(bool(cells) and all(tag == "th" for tag, _ in cells))
        tables.append({"index": len(tables) + 1, "table": number, "caption": caption, "rows": rows,
                       "header": header})
        previous_end = match.end()
    return tables


def _table_label(table):
    """How a problem names a table: "Table 3", else "table 5 (first row: …)" in document order."""
    if table["table"] is not None:
        return f"Table {table['table']}"
    first = next((" ".join(row) for row in table["rows"] if any(row)), "")
    return f"table {table['index']} (first row: {first[:40]})"


def _cell_reasons(text):
    """Why one cell's text reads as raw Python output (a list of reasons, empty when it reads well)."""
    reasons = []
    if INTEGER_WITH_DECIMALS.fullmatch(text) and abs(float(text.replace(",", ""))) >= 2:
        reasons.append("integer printed with decimals")
    if text in PYTHON_VALUES:
        reasons.append("Python value")
    if CODE_NAME.fullmatch(text):
        reasons.append("code name with an underscore")
    return reasons


def table_problems(text):
    """Table cells of a report's HTML printed as Python prints them.

    Flags a cell that is an integer with decimals (``70551.000``, ``10.000``: two or more zero decimals, 2 or
    more), Python's ``True``/``False``/``None``/``NaN``, or a code name with an underscore (``a_as_b``,
    ``integrated_gradients``; not in a column headed ``layer``), and a positional index column (the body rows'
    first cells 0, 1, 2 …).

    Args:
        text: the report's HTML.
    Returns:
        One {"kind": "table-format", "table", "reason", "cells" (up to three examples), "count"} per table and
        reason.
    """
    problems = []
    for table in report_tables(text):
        headings = [row for row, header in zip(table["rows"], table["header"]) if header]
        names = {column for row in headings for column, cell in enumerate(row) if cell in NAME_COLUMNS}
        found = {}
        for row in table["rows"]:
            for column, cell in enumerate(row):
                for reason in _cell_reasons(cell):
                    if not (reason.startswith("code name") and column in names):
                        found.setdefault(reason, []).append(cell)
        body = [row[0] for row, header in zip(table["rows"], table["header"]) if not header and row]
        if len(body) >= 2 and body == [str(number) for number in range(len(body))]:
            found["positional index column"] = body
        problems += [{"kind": "table-format", "table": _table_label(table), "reason": reason, "cells": cells[:3],
                      "count": len(cells)} for reason, cells in found.items()]
    return problems


def _poppler(tool, pdf_path, *options):
    """The standard output of a poppler tool (``pdfimages``, ``pdftotext``) run with ``options`` on a PDF.

    Raises:
        WorkbookError: the tool is not installed (says how to install it) or it failed.
    """
    from fer_utils.errors import WorkbookError

    if shutil.which(tool) is None:
        raise WorkbookError(f"the layout check needs poppler's {tool}: on Debian/Ubuntu `apt-get install "
                            "poppler-utils` (`make pdf-tools`), on macOS `brew install poppler`")
    command = [tool, *options, str(pdf_path)] + (["-"] if tool == "pdftotext" else [])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise WorkbookError(f"{tool} could not read {pdf_path}: {result.stderr.strip()[-300:]}")
    return result.stdout


def pdf_images(pdf_path):
    """The images a PDF draws, in the order it draws them (``pdfimages -list``; soft masks left out).

    Returns:
        A list of {"page" (1-based), "width" (pixels), "printed_in": printed width in inches}.
    """
    images = []
    for line in _poppler("pdfimages", pdf_path, "-list").splitlines()[2:]:
        fields = line.split()  # page num type width height color comp bpc enc interp object ID x-ppi ...
        if len(fields) >= 13 and fields[2] == "image":
            images.append({"page": int(fields[0]), "width": int(fields[3]),
                           "printed_in": int(fields[3]) / float(fields[12])})
    return images


def pdf_words(pdf_path):
    """The words of each page of a PDF with their boxes (``pdftotext -bbox``).

    Returns:
        A list per page (page 1 first) of {"text", "top", "bottom"} in points from the top, in reading order.
    """
    document = ElementTree.fromstring(_poppler("pdftotext", pdf_path, "-bbox"))
    return [[{"text": word.text or "", "top": float(word.get("yMin")), "bottom": float(word.get("yMax"))}
             for word in page.iter() if word.tag.endswith("word")]
            for page in document.iter() if page.tag.endswith("page")]


def _find_caption(pages, kind, number):
    """(page, word) of the caption "… / Figure 3." on the printed pages, or (None, None)."""
    for page, words in enumerate(pages, start=1):
        for index in range(1, len(words) - 1):
            if (words[index - 1]["text"], words[index]["text"], words[index + 1]["text"]) == ("/", kind, f"{number}."):
                return page, words[index]
    return None, None


def figure_problems(text, pdf_path):
    """Figures whose text prints too small, or with no font recorded, and a confusion matrix printed too narrow.

    A figure's smallest text prints at (font recorded in its PNG) x (printed width / width recorded), the
    printed width read off the PDF; the images of the HTML and of the PDF are matched in document order.

    Args:
        text: the report's HTML.
        pdf_path: the PDF printed from it.
    Returns:
        A list of problems: "images-unmatched" (the PDF draws another number of images), "figure-metadata"
        (no font or width recorded), "figure-font" (smallest printed text below ``MIN_FONT_PT``),
        "confusion-width" (the confusion matrix below ``CONFUSION_MIN_SHARE`` of the text width).
    """
    images, printed = report_images(text), pdf_images(pdf_path)
    if len(images) != len(printed):
        return [{"kind": "images-unmatched", "html_images": len(images), "pdf_images": len(printed)}]
    problems = []
    for image, drawn in zip(images, printed):
        where = {"figure": f"Figure {image['figure']}" if image["figure"] else f"image {image['index']} (no caption)",
                 "page": drawn["page"]}
        chunks = (image["png"] or {}).get("text", {})
        if FONT_KEY not in chunks or WIDTH_KEY not in chunks:
            problems.append({"kind": "figure-metadata", **where})
            continue
        scale = drawn["printed_in"] / float(chunks[WIDTH_KEY])
        if chunks[FONT_KEY] != "none" and float(chunks[FONT_KEY]) * scale < MIN_FONT_PT:
            problems.append({"kind": "figure-font", **where, "font_pt": round(float(chunks[FONT_KEY]) * scale, 1),
                             "threshold_pt": MIN_FONT_PT})
        if chunks.get(KIND_KEY) == CONFUSION_KIND and drawn["printed_in"] < CONFUSION_MIN_SHARE * TEXT_WIDTH_IN:
            problems.append({"kind": "confusion-width", **where, "width_mm": round(drawn["printed_in"] * 25.4, 1),
                             "threshold_mm": round(CONFUSION_MIN_SHARE * TEXT_WIDTH_MM, 1)})
    return problems


def _first_row_words(table):
    """The words of a table's first row that has words its caption does not have (what marks its start)."""
    caption = set(table["caption"].split())
    return next((words for row in table["rows"] for words in [{word for cell in row for word in cell.split()} - caption]
                 if words), set())


def caption_problems(text, pdf_path):
    """Captions printed on another page than their figure, or than the start of their table.

    A figure caption's page is where its "/ Figure n." prints; its figure's pages are those of its images (the
    HTML's and the PDF's images matched in order). A table starts on its caption's page when a word of its first
    row (one not in the caption) prints below the caption on that page.

    Args:
        text: the report's HTML.
        pdf_path: the PDF printed from it.
    Returns:
        A list of problems: "figure-caption-apart" {"caption", "caption_page", "figure_pages"},
        "table-caption-apart" {"caption", "caption_page", "table_page" (None when not found)},
        "caption-not-found" {"caption"} (a caption the PDF's text does not show).
    """
    pages, printed, problems = pdf_words(pdf_path), pdf_images(pdf_path), []
    images = report_images(text)
    figures = {}
    for image, drawn in zip(images, printed if len(printed) == len(images) else []):
        if image["figure"] is not None:
            figures.setdefault(image["figure"], []).append(drawn["page"])
    for number, figure_pages in sorted(figures.items()):
        page, _ = _find_caption(pages, "Figure", number)
        if page is None:
            problems.append({"kind": "caption-not-found", "caption": f"Figure {number}"})
        elif set(figure_pages) != {page}:
            problems.append({"kind": "figure-caption-apart", "caption": f"Figure {number}", "caption_page": page,
                             "figure_pages": sorted(set(figure_pages))})
    for table in report_tables(text):
        if table["table"] is None:
            continue
        page, caption = _find_caption(pages, "Table", table["table"])
        if page is None:
            problems.append({"kind": "caption-not-found", "caption": f"Table {table['table']}"})
            continue
        words = _first_row_words(table)
        if not words or any(word["text"] in words and word["top"] > caption["bottom"] for word in pages[page - 1]):
            continue
        later = next((number for number, words_on_page in enumerate(pages[page:], start=page + 1)
                      if any(word["text"] in words for word in words_on_page)), None)
        problems.append({"kind": "table-caption-apart", "caption": f"Table {table['table']}", "caption_page": page,
                         "table_page": later})
    return problems


#: Run in the browser after layout: every element whose content is wider than its box, or that reaches past the
#: page's printable width, as JSON in <pre id="fer-layout">.
LAYOUT_SCRIPT = """<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth, found = [];
  const describe = (element) => element.tagName.toLowerCase() + (element.className && typeof element.className ===
    "string" ? "." + element.className.trim().split(/\\s+/).join(".") : "");
  for (const element of document.querySelectorAll("body *")) {
    if (["SCRIPT", "STYLE", "HTML", "HEAD"].includes(element.tagName)) continue;
    const box = element.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const style = getComputedStyle(element);
    const clipped = element.scrollWidth > element.clientWidth + 1 && element.clientWidth > 0 &&
      !["visible"].includes(style.overflowX) ;
    const past = box.right > width + 1;
    if ((clipped || past) && (["TABLE", "IMG"].includes(element.tagName) || clipped)) {
      found.push({element: describe(element), width: Math.round(box.width), content: element.scrollWidth,
                  right: Math.round(box.right), page: width,
                  text: (element.innerText || element.getAttribute("alt") || "").slice(0, 80)});
    }
  }
  const out = document.createElement("pre");
  out.id = "fer-layout";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


def overflow_problems(html_path, width_px=PRINT_WIDTH_PX, timeout=120):
    """Elements of a report that do not fit the printed page, measured in headless Chromium.

    The page is laid out in a window as wide as the A4 page's printable width (print CSS applied); a table or
    figure reaching past that width, or any element whose content is wider than its box while it clips or
    scrolls (a table behind a scrollbar loses its right-hand columns in print), is listed.

    Args:
        html_path: the report's HTML.
        width_px: the printable width in CSS pixels.
        timeout: seconds before Chromium is given up.
    Returns:
        A list of {"kind": "overflow", "element", "width", "content", "right", "page", "text"}.
    Raises:
        WorkbookError: no Chromium, or it did not run.
    """
    from fer_utils.errors import WorkbookError
    from fer_utils.printing import find_chromium

    browser = find_chromium()
    if browser is None:
        raise WorkbookError("no Chromium or Chrome found for the layout check (see report.html_to_pdf)")
    text = Path(html_path).read_text(encoding="utf-8")
    text = text.replace("@media print", "@media all").replace("</body>", LAYOUT_SCRIPT + "</body>", 1)
    with tempfile.TemporaryDirectory(prefix="fer-layout-") as scratch:
        page = Path(scratch) / "layout.html"
        page.write_text(text, encoding="utf-8")
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                   f"--user-data-dir={Path(scratch) / 'profile'}", f"--window-size={width_px},1200",
                   "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    found = re.search(r'<pre id="fer-layout">(.*?)</pre>', result.stdout, re.S)
    if not found:
        raise WorkbookError(f"Chromium did not lay out {html_path}: {result.stderr.strip()[-500:]}")
    return [{"kind": "overflow", **problem} for problem in json.loads(html.unescape(found.group(1)))]


def layout_problems(html_path, pdf_path=None, width_px=PRINT_WIDTH_PX, timeout=120):
    """Everything the layout check finds in a rendered report (an empty list when it reads well on paper).

    Args:
        html_path: the report's HTML.
        pdf_path: the PDF printed from it; None prints one for the check (``report.html_to_pdf``).
        width_px: the printable width in CSS pixels.
        timeout: seconds before Chromium is given up.
    Returns:
        ``overflow_problems``, ``table_problems``, ``figure_problems`` and ``caption_problems``, in that order.
    Raises:
        WorkbookError: no Chromium or poppler, or they could not read the report.
    """
    from fer_utils.printing import html_to_pdf

    text = Path(html_path).read_text(encoding="utf-8")
    problems = overflow_problems(html_path, width_px, timeout) + table_problems(text)
    with tempfile.TemporaryDirectory(prefix="fer-layout-pdf-") as scratch:
        if pdf_path is None:
            pdf_path = html_to_pdf(html_path, Path(scratch) / "layout.pdf", timeout=timeout,
                                   profile_dir=Path(scratch) / "chromium")
        return problems + figure_problems(text, pdf_path) + caption_problems(text, pdf_path)


def describe(problem):
    """One line for a problem: its kind, then its fields ("figure-font: figure=Figure 5, page=8, font_pt=4.1, …")."""
    fields = ", ".join(f"{key}={value}" for key, value in problem.items() if key != "kind")
    return f"{problem['kind']}: {fields}"
