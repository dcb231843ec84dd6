"""Tests for fer_utils.report: chapter order, parameters, HTML assembly, and the whole run + render pipeline."""

import re
import shutil
import subprocess

import nbformat
import pytest

from fer_utils import report


def _chapter(path, number, outputs=(), parameters=None):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameter_cell = nbformat.v4.new_code_cell('data_path: str = ""  # data\nprofile: str = "quick"  # profile\nseed: int = 0  # seed')
    parameter_cell.metadata["tags"] = ["parameters"]
    shown = nbformat.v4.new_code_cell("print('secret code')")
    shown.outputs = list(outputs)
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q{number} · Title\n\n{report.QUESTIONS[number - 1].zh}"),
                      parameter_cell, shown, nbformat.v4.new_markdown_cell("## Conclusion\n\ndone")]
    if parameters:
        notebook.metadata["papermill"] = {"parameters": parameters}
    nbformat.write(notebook, str(path))
    return path


def test_notebooks_are_ordered_by_number_and_ignore_other_files(tmp_path):
    for name in ("02-b.ipynb", "01-a.ipynb", "scratch.ipynb", "10-later.ipynb"):
        _chapter(tmp_path / name, 1)
    assert [path.name for path in report.notebooks(tmp_path)] == ["01-a.ipynb", "02-b.ipynb", "10-later.ipynb"]
    with pytest.raises(report.WorkbookError, match="NN-slug"):
        report.notebooks(tmp_path / "empty")


def test_coerce_parameters_uses_the_notebooks_types(tmp_path):
    chapters = [_chapter(tmp_path / "01-a.ipynb", 1)]
    assert report.coerce_parameters({"seed": "3", "profile": "cpu"}, chapters) == {"seed": 3, "profile": "cpu"}
    with pytest.raises(ValueError, match="expected int"):
        report.coerce_parameters({"seed": "three"}, chapters)
    with pytest.raises(ValueError, match="no notebook has this parameter"):
        report.coerce_parameters({"epochs": "3"}, chapters)


def test_run_refuses_to_overwrite_the_committed_notebooks(tmp_path):
    _chapter(tmp_path / "01-a.ipynb", 1)
    with pytest.raises(report.WorkbookError, match="must not overwrite"):
        report.run({}, notebooks_dir=tmp_path, out_dir=tmp_path)


def test_html_hides_code_and_stderr_and_shows_the_header(tmp_path):
    stdout = nbformat.v4.new_output("stream", name="stdout", text="accuracy 0.80\n")
    stderr = nbformat.v4.new_output("stream", name="stderr", text="epoch 1/8 progress\n")
    chapters = [_chapter(tmp_path / f"0{n}-q.ipynb", n, [stdout, stderr]) for n in (1, 2)]
    text = report.to_html(chapters, name="Lin", student_id="R01", department="EE")
    assert "accuracy 0.80" in text and "epoch 1/8" not in text and "secret code" not in text
    assert "Lin" in text and "R01" in text and "SYNTHETIC DATA" in text
    assert report.QUESTIONS[0].zh in text and report.QUESTIONS[1].zh in text
    assert "# Q1" not in text and "Q1 · Title" in text and "Q2 · Title" in text
    assert not re.search(r"<script[^>]*src=\"https?://", text)


def test_real_data_has_no_synthetic_banner(tmp_path):
    chapters = [_chapter(tmp_path / "01-q.ipynb", 1, parameters={"data_path": "/data/fer2013.csv"})]
    text = report.to_html(chapters)
    assert "SYNTHETIC DATA" not in text and "/data/fer2013.csv" in text


def test_a_failed_cell_stops_the_render(tmp_path):
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])
    chapters = [_chapter(tmp_path / "01-q.ipynb", 1, [error])]
    with pytest.raises(report.WorkbookError, match="ValueError: bad"):
        report.to_html(chapters)


@pytest.mark.slow
def test_run_and_render_the_whole_workbook(tmp_path):
    """The quick-profile pipeline end to end: five executed notebooks, one HTML and one searchable PDF."""
    from pypdf import PdfReader

    executed = report.run({}, out_dir=tmp_path / "executed", progress=False)
    assert [path.name[:2] for path in executed] == ["01", "02", "03", "04", "05"]
    html_path, pdf_path = report.render(tmp_path / "executed", tmp_path, name="Test Student", student_id="B01",
                                        department="CSIE")
    html = html_path.read_text(encoding="utf-8")
    assert html.count("<img") >= 10
    reader = PdfReader(str(pdf_path))
    pages = [page.extract_text() or "" for page in reader.pages]
    text = "\n".join(pages)
    for question in report.QUESTIONS:
        assert f"Q{question.number} ·" in text, f"section Q{question.number} missing"
        assert question.en.split(":")[0][:40].replace(" ", "") in text.replace("\n", "").replace(" ", "")
    assert "請說明你實作的 CNN model" in text.replace("\n", "") or "請說明你實作的" in text
    assert all("SYNTHETIC DATA" in page for page in pages), "the synthetic banner must be on every page"
    assert "Test Student" in text and "B01" in text
    assert "import " not in text and "workbook_run(" not in text, "code leaked into the report"
    assert sum(len(page.images) for page in reader.pages) >= 10
    if shutil.which("pdftotext"):  # poppler, when installed: the CJK text is real glyphs, not boxes
        poppler = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True).stdout
        assert report.QUESTIONS[2].zh[:10] in poppler.replace("\n", "")
