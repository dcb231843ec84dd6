"""Tests for fer_utils.layout: figure text at its printed size, raw table cells, captions apart from their figure
or table, measured on small hand-made pages printed by Chromium and read back with poppler."""

import base64
import io
import json
import re
import shutil

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported (by fer_utils.plots): no display needed

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from questions import QUESTIONS

from fer_utils import cli, document, layout, plots, report  # noqa: E402

needs_printing = pytest.mark.skipif(report.find_chromium() is None or shutil.which("pdfimages") is None,
                                    reason="needs Chromium and poppler (make pdf-tools)")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _png(fontsize, width=3.0, kind="", metadata=True):
    """A figure ``width`` in wide whose only text is a title in ``fontsize`` pt, as PNG bytes."""
    figure, axis = plt.subplots(figsize=(width, 1.2))
    axis.set_title("label", fontsize=fontsize)
    axis.set_xticks([])
    axis.set_yticks([])
    figure.kind = kind
    if metadata:
        return plots.png(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _figure(number, png, width_px):
    """A captioned figure as the report prints it, its image ``width_px`` CSS pixels wide."""
    source = base64.b64encode(png).decode("ascii")
    return (f'<figure class="fer-figure"><img alt="" src="data:image/png;base64,{source}" '
            f'style="width: {width_px}px; display: block">'
            f'<figcaption class="fer-caption fer-caption-figure"><b>圖 {number} / Figure {number}.</b> 說明 / '
            f"what figure {number} shows.</figcaption></figure>")


def _table(number, rows, header=("split", "faces", "accuracy")):
    """A captioned table as the report prints it: the caption paragraph, then the table."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (f'<p class="fer-caption fer-caption-table"><b>表 {number} / Table {number}.</b> 準確率 / Accuracy '
            f"per split.</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


PAGE_CSS = ("@page { size: A4; margin: 16mm 14mm 14mm 14mm; } body { margin: 0; font-family: 'DejaVu Sans'; "
            "font-size: 10pt; } figure, p { margin: 0; } td, th { padding: 1mm 2mm; }")


def _printed(tmp_path, body, css="", name="page"):
    """(HTML text, PDF path) of ``body`` printed on A4 by Chromium."""
    text = f"<html><head><meta charset='utf-8'><style>{PAGE_CSS}{css}</style></head><body>{body}</body></html>"
    html_path = tmp_path / f"{name}.html"
    html_path.write_text(text, encoding="utf-8")
    return text, report.html_to_pdf(html_path, tmp_path / f"{name}.pdf", profile_dir=tmp_path / f"{name}-chromium")


def test_png_info_reads_size_resolution_and_text_chunks():
    info = layout.png_info(_png(9, width=2.0, kind="curves"))
    assert (info["width"], round(info["dpi"])) == (2 * plots.DPI, plots.DPI)
    assert info["text"][layout.KIND_KEY] == "curves" and float(info["text"][layout.FONT_KEY]) == 9
    assert layout.png_info(b"GIF89a not a png") is None


@needs_printing
def test_figure_text_is_measured_at_its_printed_size(tmp_path):
    """A 5 pt figure is flagged, a 9 pt one is not, unless it prints at half its size; no metadata is flagged too."""
    native = round(3.0 * 96)  # a 3-inch figure at its size in CSS pixels
    body = (_figure(1, _png(5), native) + _figure(2, _png(9), native) + _figure(3, _png(9), native // 2)
            + _figure(4, _png(9, metadata=False), native))
    text, pdf = _printed(tmp_path, body)
    problems = {(problem["kind"], problem["figure"]): problem for problem in layout.figure_problems(text, pdf)}
    assert set(problems) == {("figure-font", "Figure 1"), ("figure-font", "Figure 3"), ("figure-metadata", "Figure 4")}
    assert problems["figure-font", "Figure 1"]["font_pt"] == pytest.approx(5.0, abs=0.1)
    assert problems["figure-font", "Figure 3"]["font_pt"] == pytest.approx(4.5, abs=0.1)
    assert problems["figure-font", "Figure 1"]["threshold_pt"] == 7 and problems["figure-font", "Figure 1"]["page"] == 1


@needs_printing
def test_the_confusion_matrix_must_print_at_least_70_percent_of_the_text_width(tmp_path):
    matrix = _png(20, width=5.6, kind=layout.CONFUSION_KIND)  # 20 pt: its text stays readable even when small
    text, pdf = _printed(tmp_path, _figure(1, matrix, round(60 / 25.4 * 96)) + _figure(2, matrix, round(5.6 * 96)))
    (problem,) = layout.figure_problems(text, pdf)
    assert (problem["kind"], problem["figure"], problem["threshold_mm"]) == ("confusion-width", "Figure 1", 127.4)
    assert problem["width_mm"] == pytest.approx(60, abs=0.5)


def test_raw_table_cells_are_flagged_and_formatted_ones_are_not():
    raw = _table(1, [["0", "70551.000", "True"], ["1", "10.000", "NaN"], ["2", "3", "0.500"]],
                 header=("", "n", "integrated_gradients"))
    formatted = _table(2, [["training", "5,000", "81.7 %"], ["PrivateTest", "3,589", "80.1 %"]])
    layers = ("<table><thead><tr><th></th><th>type</th></tr><tr><th>layer</th><th></th></tr></thead><tbody>"
              "<tr><th>conv1_1</th><td>Conv2D</td></tr><tr><th>dense_out</th><td>Dense</td></tr></tbody></table>")
    problems = layout.table_problems(raw + formatted + layers + "<table><tr><td>1.0</td><td>8.0</td></tr></table>")
    found = {problem["reason"]: problem for problem in problems}
    assert {problem["table"] for problem in problems} == {"Table 1"}
    assert found["integer printed with decimals"]["cells"] == ["70551.000", "10.000"]
    assert found["Python value"]["cells"] == ["True", "NaN"]
    assert found["code name with an underscore"]["cells"] == ["integrated_gradients"]
    assert found["positional index column"]["cells"] == ["0", "1", "2"]


def test_a_table_without_caption_is_named_by_its_first_row():
    (problem,) = layout.table_problems("<table><tr><th>a_as_b</th></tr><tr><td>4</td></tr></table>")
    assert problem["table"] == "table 1 (first row: a_as_b)" and problem["count"] == 1


FILLER = '<div style="height: {}mm; background: #eee"></div>'


def _apart(grouped):
    """A figure pushed to the bottom of page 1 and a table caption to the bottom of page 3.

    Without the report's grouping the figure's caption and the table go over the page; ``grouped`` wraps the
    table and its caption in ``.fer-table`` as the report does.
    """
    figure = _figure(1, _png(9), round(45 / 25.4 * 96)).replace("display: block", "display: block; height: 45mm")
    rows = [[f"split {index}", "1,000", "50.0 %"] for index in range(6)]
    table = f'<div class="fer-table">{_table(1, rows)}</div>' if grouped else _table(1, rows)
    return (FILLER.format(220) + figure + '<div style="break-before: page"></div>' + FILLER.format(253) + table)


@needs_printing
def test_a_caption_pushed_onto_the_next_page_is_flagged(tmp_path):
    css = "table { break-inside: avoid; }"
    text, pdf = _printed(tmp_path, _apart(grouped=False), css)
    problems = layout.caption_problems(text, pdf)
    assert {"kind": "figure-caption-apart", "caption": "Figure 1", "caption_page": 2, "figure_pages": [1]} in problems
    table = next(problem for problem in problems if problem["kind"] == "table-caption-apart")
    assert table["caption"] == "Table 1" and table["table_page"] == table["caption_page"] + 1
    text, pdf = _printed(tmp_path, _apart(grouped=True), css + report.REPORT_CSS, name="grouped")
    assert layout.caption_problems(text, pdf) == [], "the report's grouping keeps captions with their figure and table"


def _executed(folder, table_html):
    """An executed one-chapter workbook whose one shown cell prints ``table_html`` (after the first page's identity
    and reproducibility tables)."""
    folder.mkdir(parents=True)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["papermill"] = {"parameters": {}, "duration": 1.0}
    shown = nbformat.v4.new_code_cell("table", execution_count=1)
    shown.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": table_html, "text/plain": "t"},
                                            execution_count=1)]
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q1 · Title\n\n{QUESTIONS[0].zh}"), shown]
    nbformat.write(notebook, str(folder / "01-q.ipynb"))
    (folder / report.MANIFEST).write_text(json.dumps({"notebooks": ["01-q.ipynb"], "parameters": {}}))
    return folder


@needs_printing
def test_render_check_prints_each_problem_and_exits_1(tmp_path, capsys):
    executed = _executed(tmp_path / "executed", "<table><tr><th>macro_f1</th></tr><tr><td>0.5</td></tr></table>")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["render", "--executed", str(executed), "--out", str(tmp_path), "--no-pdf", "--check"])
    printed = capsys.readouterr()
    assert stopped.value.code == 1
    assert printed.out.splitlines() == ["table-format: table=table 3 (first row: macro_f1), reason=code name with an "
                                        "underscore, cells=['macro_f1'], count=1"]
    assert "the layout check found 1 problem(s)" in printed.err and (tmp_path / "report.html").exists()
    with pytest.raises(report.LayoutError) as found:
        report.render(executed, tmp_path, pdf=False, check=True)
    assert [problem["kind"] for problem in found.value.problems] == ["table-format"]


def _figure_chapter(path, *widths):
    """A chapter with one figure cell per width (inches), each followed by its caption, then a captioned table."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [nbformat.v4.new_markdown_cell(f"# Q1 · Title\n\n{QUESTIONS[0].zh}")]
    for index, width in enumerate(widths):
        drawn = nbformat.v4.new_code_cell("plots.curves(...);", execution_count=index + 1)
        drawn.outputs = [nbformat.v4.new_output("display_data", data={
            "image/png": base64.b64encode(_png(8, width=width)).decode("ascii"), "text/plain": "<Figure>"})]
        caption = nbformat.v4.new_markdown_cell(f"圖說 {index} / Caption {index}.")
        caption.metadata["tags"] = ["caption-figure"]
        cells += [drawn, caption]
    caption = nbformat.v4.new_markdown_cell("準確率 / Accuracy.")
    caption.metadata["tags"] = ["caption-table"]
    table = nbformat.v4.new_code_cell("tables.accuracy(...)", execution_count=9)
    table.outputs = [nbformat.v4.new_output("execute_result", execution_count=9, data={
        "text/html": "<table><tr><th>faces</th></tr><tr><td>5,000</td></tr></table>", "text/plain": "t"})]
    notebook.cells = cells + [caption, table]
    nbformat.write(notebook, str(path))
    return path


def test_captions_print_in_one_block_with_their_figure_or_table(tmp_path):
    """Before, a caption was a paragraph of its own between cells, free to fall on another page than its figure."""
    text = report.to_html([_figure_chapter(tmp_path / "01-q.ipynb", 7.0, 3.45, 3.45)])
    figures = re.findall(r'<figure class="fer-figure">(.*?)</figure>', text, re.S)
    assert len(figures) == 3 and all(figure.count("<img") == 1 and "<figcaption" in figure for figure in figures)
    assert 'alt="圖 1 / Figure 1. 圖說 0 / Caption 0."' in figures[0] and "Figure 1.</b> 圖說 0" in figures[0]
    assert text.count('<div class="fer-figure-row">') == 1, "the two half-width plots share a row, the wide one not"
    assert '<div class="fer-table"><p class="fer-caption fer-caption-table"><b>表 1 / Table 1.</b> 準確率' in text
    assert '<p class="fer-caption' not in text.replace('<p class="fer-caption fer-caption-table">', ""), \
        "no caption left as a paragraph of its own"


def test_figures_print_at_their_size_in_inches():
    """Before, every figure printed at 0.6 of its pixel width: a 100-dpi figure at 0.58 of its size."""
    def printed(png):
        page = document._scale_figures(f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        return int(re.search(r"width: (\d+)px", page).group(1))

    assert printed(_png(8, width=3.45)) == round(3.45 * 96)  # plots.DPI pixels per inch, read from pHYs
    assert printed(_png(8, width=9.0)) == layout.PRINT_WIDTH_PX == 688  # capped at the A4 text width
    assert printed(_png(8, width=2.0, metadata=False)) == round(2.0 * 96)  # any matplotlib PNG: its own dpi


def test_an_image_belongs_to_the_figure_caption_that_follows_it():
    """Grouped in a <figure> (as the report prints now) or a paragraph after the image (as it printed before,
    when the check must still find Figure 9's caption on the page after its figure)."""
    image = f'<img src="data:image/png;base64,{base64.b64encode(_png(9)).decode()}">'
    caption = '<p class="fer-caption fer-caption-figure"><b>圖 {0} / Figure {0}.</b> x</p>'
    grouped = (f'<figure class="fer-figure">{image}{image}<figcaption class="fer-caption fer-caption-figure">'
               "<b>圖 3 / Figure 3.</b> two panels</figcaption></figure>")
    text = image + caption.format(1) + image + "<p>text</p>" + image + caption.format(2) + grouped
    assert [image["figure"] for image in layout.report_images(text)] == [1, None, 2, 3, 3]
    assert float(layout.report_images(text)[0]["png"]["text"][layout.FONT_KEY]) == 9
