"""Tests for fer_utils.report: chapter order, parameters, HTML assembly, and the whole run + render pipeline."""

import os
import re
import shutil
import subprocess

import nbformat
import pytest

from questions import QUESTIONS

from fer_utils import layout, report


def _chapter(path, number, outputs=(), parameters=None):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameter_cell = nbformat.v4.new_code_cell('data_path: str = ""  # data\nprofile: str = "quick"  # profile\nseed: int = 0  # seed')
    parameter_cell.metadata["tags"] = ["parameters"]
    shown = nbformat.v4.new_code_cell("print('secret code')")
    shown.outputs = list(outputs)
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q{number} · Title\n\n{QUESTIONS[number - 1].zh}"),
                      parameter_cell, shown, nbformat.v4.new_markdown_cell("## Conclusion\n\ndone")]
    if parameters:
        notebook.metadata["papermill"] = {"parameters": parameters}
    nbformat.write(notebook, str(path))
    return path


def _flagged(path):
    """A chapter whose parameters cell declares a bool."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("flag: bool = False  # a switch")
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell]
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
    assert report.coerce_parameters({"flag": "yes"}, [_flagged(tmp_path / "02-b.ipynb")]) == {"flag": True}
    with pytest.raises(ValueError, match="no notebook has this parameter"):
        report.coerce_parameters({"epochs": "3"}, chapters)


@pytest.mark.parametrize("seconds, text", [(41.6, "42 s"), (185, "3 min 05 s"), (3725, "1 h 02 min")])
def test_durations_read_as_a_person_would_write_them(seconds, text):
    assert report.duration(seconds) == text


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
    assert QUESTIONS[0].zh in text and QUESTIONS[1].zh in text
    assert "# Q1" not in text and "Q1 · Title" in text and "Q2 · Title" in text
    assert not re.search(r"<script[^>]*src=\"https?://", text)


def test_real_data_has_no_synthetic_banner(tmp_path):
    chapters = [_chapter(tmp_path / "01-q.ipynb", 1, parameters={"data_path": "/data/fer2013.csv"})]
    text = report.to_html(chapters)
    assert "SYNTHETIC DATA" not in text and "fer2013.csv" in text


def test_the_banner_follows_the_data_not_the_parameter(tmp_path):
    from fer_utils import synth

    generated = synth.write_csv(tmp_path / "data" / "fer2013.csv.gz", n=70, seed=2, progress=False)
    chapters = [_chapter(tmp_path / "01-q.ipynb", 1, parameters={"data_path": str(generated)})]
    assert "SYNTHETIC DATA" in report.to_html(chapters), "a path to generated faces is still synthetic"
    copied = tmp_path / "data" / "mine.csv.gz"  # the same bytes without the generator's sidecar: the user's file
    copied.write_bytes(generated.read_bytes())
    chapters = [_chapter(tmp_path / "02-q.ipynb", 2, parameters={"data_path": str(copied)})]
    assert "SYNTHETIC DATA" not in report.to_html(chapters)


def test_a_failed_cell_stops_the_render(tmp_path):
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])
    chapters = [_chapter(tmp_path / "01-q.ipynb", 1, [error])]
    with pytest.raises(report.WorkbookError, match="ValueError: bad"):
        report.to_html(chapters)


@pytest.mark.heavy
@pytest.mark.slow
def test_run_and_render_the_whole_workbook(tmp_path, capsys):
    """The quick-profile pipeline end to end: five executed notebooks, one HTML and one searchable PDF."""
    from pypdf import PdfReader

    executed = report.run({}, out_dir=tmp_path / "executed", progress=False)
    assert [path.name[:2] for path in executed] == ["01", "02", "03", "04", "05", "06"]
    printed = capsys.readouterr().err
    assert all(f"[{index}/6] {path.name} done in " in printed for index, path in enumerate(executed, start=1))
    chapters = report.read_workbook(tmp_path / "executed")
    records = [record for chapter in chapters for record in chapter.records("run")]
    assert all(chapter.records("run") for chapter in chapters), "every chapter records the run it analysed"
    assert len({record["run"] for record in records if record["model"] != "dnn"}) == 1, records
    html_path, pdf_path = report.render(tmp_path / "executed", tmp_path, name="Test Student", student_id="B01",
                                        department="CSIE")
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == [
        ".executed.lock", ".report.lock"], "no staging folder or print profile left behind"
    html = html_path.read_text(encoding="utf-8")
    assert html.count("<img") >= 10
    reader = PdfReader(str(pdf_path))
    pages = [page.extract_text() or "" for page in reader.pages]
    text = "\n".join(pages)
    for question in QUESTIONS:
        assert f"Q{question.number} ·" in text, f"section Q{question.number} missing"
        assert question.en.split(":")[0][:40].replace(" ", "") in text.replace("\n", "").replace(" ", "")
    assert "請說明你實作的 CNN model" in text.replace("\n", "") or "請說明你實作的" in text
    assert all("SYNTHETIC DATA" in page for page in pages), "the synthetic banner must be on every page"
    assert "Test Student" in text and "B01" in text
    assert "import " not in text and "train_cnn(" not in text, "code leaked into the report"
    assert sum(len(page.images) for page in reader.pages) >= 10
    if shutil.which("pdftotext"):  # poppler, when installed: the CJK text is real glyphs, not boxes
        poppler = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True).stdout
        assert QUESTIONS[2].zh[:10] in poppler.replace("\n", "")
    _assert_handed_in_report(reader, html_path, pdf_path)


def _assert_handed_in_report(reader, html_path, pdf_path, synthetic=True):
    """Issue 13's report: metadata, outline, bilingual explanations, numbered captions, <= 12 pages, nothing cut;
    and its layout check finds nothing: figure text >= 7 pt on paper, captions beside their figures and tables."""
    import unicodedata

    pages = [unicodedata.normalize("NFKC", page.extract_text() or "").replace("\n", "").replace(" ", "")
             for page in reader.pages]  # NFKC: CJK radicals (⼀) to 一
    flat = "".join(pages)
    appendix = [index for index, page in enumerate(pages)  # page 1's contents names it too
                if index > 0 and "附錄·你自己的臉/Appendix·Yourownfaces" in page]
    questions = appendix[0] if appendix else len(pages)  # the pages of Q1-Q5 (and the first page)
    assert questions <= 12, f"Q1-Q5 take {questions} pages"
    assert len(pages) - questions <= 1, f"the appendix (issue 25) takes {len(pages) - questions} pages, not one"
    answers = 5 + len(appendix)
    assert reader.metadata.title == report.REPORT_TITLE and reader.metadata.subject
    titles = [item.title for item in reader.outline if not isinstance(item, list)]
    assert len(titles) >= 5 and all(any(title.startswith(f"Q{n} ·") for title in titles) for n in range(1, 6)), titles
    assert flat.count("說明/Explanation") == answers and flat.count("答/Answer") == answers
    for marker in ("準確率", "Test accuracy" if synthetic else "validation", "最常被搞混的是", "saliency 落在", "filter"):
        assert marker.replace(" ", "") in flat, marker
    assert "圖1/Figure1." in flat and "表1/Table1." in flat and "圖10/Figure10." in flat
    assert "結果一覽/Resultsataglance" in flat and "Python3." in flat and "Keras" in flat
    assert ("generatorfer_utils.synthseed" if synthetic else "SHA-256") in flat
    assert "參考文獻/References" in flat and "arXiv:1312.6034" in flat
    problems = layout.layout_problems(html_path, pdf_path)
    assert problems == [], "\n".join(map(layout.describe, problems))


def _tagged_chapter(path, number, splits=None):
    """A chapter in the report's structure: tagged plumbing, a figure caption, a table caption, glued results."""
    from fer_utils import glue

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}

    def cell(kind, source, tags=(), outputs=()):
        made = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        made.metadata["tags"] = list(tags)
        if kind == "code":
            made.outputs = list(outputs)
        return made

    text = lambda value: nbformat.v4.new_output("stream", name="stdout", text=value)  # noqa: E731
    glue = nbformat.v4.new_output("display_data", data={
        glue.GLUE_MIME: {"cnn": {"model": "vgg_small", "parameters": 1234, "splits": splits, "split": "val",
                                     "synthetic": False}}, "text/plain": "glued"})
    notebook.cells = [
        cell("markdown", f"# Q{number} · Title\n\n{QUESTIONS[number - 1].zh}"),
        cell("markdown", "## Setup", ["remove-cell"]), cell("code", "import os", ["remove-cell"], [text("PLUMBING\n")]),
        cell("markdown", "## 答 / Answer"),
        cell("code", "audit()", ["remove-output"], [text("HIDDEN OUTPUT\n")]),
        cell("code", "plot()", [], [text("shown figure\n")]), cell("markdown", "訓練曲線 / Curves.", ["caption-figure"]),
        cell("markdown", "準確率 / Accuracy.", ["caption-table"]), cell("code", "table()", [], [text("shown table\n")]),
        cell("markdown", "Vanilla gradient (Simonyan et al. 2013)."),
        cell("code", "glue()", ["remove-cell"], [glue] if splits else []),
        cell("markdown", "## 說明 / Explanation"), cell("code", "explain()", [], [text("中文說明 explanation\n")])]
    nbformat.write(notebook, str(path))
    return path


def test_tags_choose_what_the_report_shows_and_captions_are_numbered(tmp_path):
    val = {"n": 10, "accuracy": 0.4, "macro_f1": 0.3, "per_class": {}}
    chapters = [_tagged_chapter(tmp_path / f"0{n}-q.ipynb", n, {"train": val, "val": val} if n == 1 else None)
                for n in (1, 2)]
    text = report.to_html(chapters, collaborators="Chen, Wang")
    assert "PLUMBING" not in text and "HIDDEN OUTPUT" not in text and "## Setup" not in text
    assert "shown figure" in text and "shown table" in text and "中文說明 explanation" in text
    assert "圖 1 / Figure 1." in text and "圖 2 / Figure 2." in text and "表 2 / Table 2." in text
    assert "表 3 / Table 3." not in text, "captions are numbered across chapters, once each"
    assert text.count("Chen, Wang") == 1 + len(chapters), "collaborators: the header and each question"
    assert 'href="#ref-2"' in text and 'id="ref-2"' in text and "arXiv:1312.6034" in text
    assert 'href="#q1"' in text and 'id="q1"' in text, "the table of contents links each question"
    # the first page quotes what the notebooks glued, and says validation stands in for the test splits
    assert "40.0%" in text and "1,234" in text and "21,100,035" in text and "validation stands in" in text
    assert "<title>Facial expression recognition" in text


def test_the_appendix_prints_after_the_questions_only_when_it_ran(tmp_path):
    """Issue 25: 06-your-faces is optional; a workbook without it renders the questions alone."""
    questions = [_tagged_chapter(tmp_path / f"0{n}-q.ipynb", n) for n in (1, 2)]
    appendix = _tagged_chapter(tmp_path / "06-your-faces.ipynb", 1)
    notebook = nbformat.read(str(appendix), as_version=4)
    notebook.cells[0].source = "# 附錄 · 你自己的臉 / Appendix · Your own faces\n\n**附錄.** 照片 **Appendix.** Photos."
    nbformat.write(notebook, str(appendix))
    without = report.to_html(questions)
    assert "Appendix" not in without and 'id="q6"' not in without
    with_appendix = report.to_html([*questions, appendix])
    assert 'href="#q6">附錄 · 你自己的臉 / Appendix · Your own faces</a>' in with_appendix
    # the questions' bibliography closes the report proper; the appendix follows it, without a Collaborators line
    assert with_appendix.index('id="q2"') < with_appendix.index('id="references"') < with_appendix.index('id="q6"')
    assert with_appendix.count("Collaborators 合作者") == without.count("Collaborators 合作者") == 2


def _wide_table_chapter(path, table_html):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    shown = nbformat.v4.new_code_cell("table")
    shown.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": table_html, "text/plain": "t"},
                                            execution_count=1)]
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q1 · Title\n\n{QUESTIONS[0].zh}"), shown]
    nbformat.write(notebook, str(path))
    return path


@pytest.mark.skipif(report.find_chromium() is None, reason="needs Chromium (make pdf-tools)")
def test_layout_check_finds_the_accuracy_table_that_ran_off_the_page(tmp_path):
    """Before issue 13, Q1 printed one table of n, accuracy, macro-F1 and seven recalls: its right-hand columns
    were cut off in print. The layout check in the real browser must find it; the two tables that replace it fit."""
    from fer_utils import evaluate, tables, workbook

    names = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    metrics = {"n": 3589, "accuracy": 0.7055, "macro_f1": 0.612,
               "per_class": {name: {"recall": 0.123456} for name in names}}
    splits = {split: metrics for split in ("train", "val", "PublicTest", "PrivateTest")}
    old = evaluate.summary_table(splits).round(3).to_html()
    html_path = tmp_path / "old.html"
    html_path.write_text(report.to_html([_wide_table_chapter(tmp_path / "01-q.ipynb", old)]), encoding="utf-8")
    problems = layout.layout_problems(html_path)
    assert any(problem["kind"] == "overflow" and problem["element"].startswith("table")
               and "recall_angry" in problem["text"] for problem in problems), problems
    new = (tables.accuracy(workbook.accuracy_table(splits)).to_html()
           + tables.recall(workbook.recall_table(splits)).to_html())
    html_path = tmp_path / "new.html"
    html_path.write_text(report.to_html([_wide_table_chapter(tmp_path / "01-q.ipynb", new)]), encoding="utf-8")
    assert layout.layout_problems(html_path) == []


def _course_train_csv(path, n=900, seed=5):
    """The ML2017 ``train.csv`` form (label,feature; Training rows only) made from the synthetic generator."""
    import csv
    import gzip

    from fer_utils import synth

    generated = synth.write_csv(path.parent / "generated.csv.gz", n=n, seed=seed, progress=False)
    with gzip.open(generated, "rt") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Usage"] == "Training"]
    path.write_text("label,feature\n" + "".join(f"{row['emotion']},{row['pixels']}\n" for row in rows))
    return path


@pytest.mark.heavy
@pytest.mark.slow
def test_real_data_report_on_the_course_train_csv(tmp_path, monkeypatch):
    """A render of a run on the course's train.csv form: validation stands in for the test splits and says so."""
    from pypdf import PdfReader

    from fer_utils import paths

    # the notebooks' kernels are other processes: the environment keeps this data's runs and parsed cache in
    # tmp_path with the test's own (conftest), out of the project's runs/ and data/cache/
    monkeypatch.setenv("FER_RUNS_DIR", str(paths.RUNS_DIR))
    monkeypatch.setenv("FER_CACHE_DIR", str(paths.CACHE_DIR))
    data = _course_train_csv(tmp_path / "train.csv")
    fewer_steps = {"smoothgrad_samples": 8, "ig_steps": 16, "ascent_steps": 24}  # the layout, not the maps, is tested
    report.run({"data_path": str(data), **fewer_steps}, out_dir=tmp_path / "executed", progress=False)
    html_path, pdf_path = report.render(tmp_path / "executed", tmp_path, name="Lin", collaborators="none")
    reader = PdfReader(str(pdf_path))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    assert "SYNTHETIC DATA" not in text and reader.metadata.author == "Lin"
    assert "validation stands in" in text.replace("\n", " ") and "驗證集" in text
    assert "train.csv, SHA-256" in text.replace("\n", " ")
    _assert_handed_in_report(reader, html_path, pdf_path, synthetic=False)


# --- a workbook is executed, checked and rendered as one unit (issue 20) ---


def _tiny_workbook(folder, kill_in_second=False):
    """Two tiny chapters with a ``value`` parameter; the second kills its papermill process for value 2."""
    folder.mkdir(exist_ok=True)
    for number in (1, 2):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        parameters = nbformat.v4.new_code_cell("value: int = 1  # which run")
        parameters.metadata["tags"] = ["parameters"]
        body = "print(f'value {value}')"
        if number == 2 and kill_in_second:
            body = "import os, signal\nif value == 2:\n    os.kill(os.getppid(), signal.SIGKILL)\n" + body
        notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q{number} · Title\n\n{QUESTIONS[number - 1].zh}"),
                          parameters, nbformat.v4.new_code_cell(body)]
        nbformat.write(notebook, str(folder / f"0{number}-q.ipynb"))
    return folder


def _printed_values(executed_dir):
    return [nbformat.read(str(path), as_version=4).cells[-1].outputs[0]["text"].strip()
            for path in sorted(executed_dir.glob("*.ipynb"))]


@pytest.mark.slow
def test_a_run_killed_half_way_leaves_the_previous_executed_set_whole(tmp_path):
    """Before issue 20, run wrote each executed notebook in place: a kill -9 in notebook 2 left the new 01 beside a
    half-written 02 (this test then saw 'value 2' and an unexecuted cell). Now the set is swapped in only when every
    chapter ran."""
    import sys

    chapters = _tiny_workbook(tmp_path / "notebooks", kill_in_second=True)
    out = tmp_path / "report" / "executed"
    report.run({"value": 1}, notebooks_dir=chapters, out_dir=out, progress=False)
    assert _printed_values(out) == ["value 1", "value 1"]
    script = (f"from fer_utils import report; report.run({{'value': 2}}, notebooks_dir={str(chapters)!r}, "
              f"out_dir={str(out)!r}, progress=False)")
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert _printed_values(out) == ["value 1", "value 1"], "the previous complete set is untouched"
    assert any(".staging-" in path.name for path in out.parent.iterdir()), "the killed run's staging folder"
    chapters_read = report.read_workbook(out)  # a reader finishes or drops what the killed run left
    assert [chapter.parameters["value"] for chapter in chapters_read] == [1, 1]
    assert sorted(path.name for path in out.parent.iterdir()) == [".executed.lock", "executed"]


def _executed_chapter(path, number, parameters=None, record=None, executed=True, outputs=None):
    """An executed chapter as `run` writes it: papermill's parameters, the glued run record, execution counts."""
    from fer_utils import glue

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["papermill"] = {"parameters": parameters or {}, "duration": 1.0}
    parameter_cell = nbformat.v4.new_code_cell('data_path: str = ""  # data\nprofile: str = "quick"  # profile\nseed: int = 0')
    parameter_cell.metadata["tags"] = ["parameters"]
    glued = nbformat.v4.new_code_cell("chapter = workbook.trained_cnn(profile, data_path)")
    glued.outputs = [nbformat.v4.new_output("display_data", data={glue.GLUE_MIME: {"run": record}, "text/plain": "g"})
                     ] if record else []
    shown = nbformat.v4.new_code_cell("print('result')")
    shown.outputs = list(outputs or [nbformat.v4.new_output("stream", name="stdout", text="result\n")])
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q{number} · Title\n\n{QUESTIONS[number - 1].zh}"),
                      parameter_cell, glued, shown]
    for count, cell in enumerate(notebook.cells[1:], start=1):
        cell.execution_count = count if executed or cell is not shown else None
    nbformat.write(notebook, str(path))
    return path


RECORD = {"data_hash": "a" * 64, "data": "fer2013.csv.gz", "profile": "quick", "seed": 0, "cnn": "vgg_small",
          "model": "vgg_small", "run": "vgg_small-quick-0123456789ab", "split": "PrivateTest"}


def _executed_set(folder, chapters):
    """Write ``chapters`` ({number: keyword arguments of _executed_chapter}) and the manifest `run` writes last."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    names = [_executed_chapter(folder / f"0{number}-q.ipynb", number, **options).name
             for number, options in chapters.items()]
    (folder / report.MANIFEST).write_text(json.dumps({"notebooks": names, "parameters": {}}))
    return folder


@pytest.mark.parametrize("second, message", [
    ({"record": {**RECORD, "data_hash": "b" * 64, "data": "train.csv"}},
     r"02-q.ipynb analysed data sha256 bbbbbbbbbbbb \(train.csv\), 01-q.ipynb aaaaaaaaaaaa \(fer2013.csv.gz\)"),
    ({"record": {**RECORD, "run": "vgg_small-quick-ffffffffffff"}}, "02-q.ipynb analysed the CNN run vgg_small-quick-ff"),
    ({"record": {**RECORD, "profile": "cpu"}}, "02-q.ipynb analysed profile cpu, 01-q.ipynb quick"),
    ({"record": RECORD, "parameters": {"data_path": "/data/train.csv"}},
     "02-q.ipynb was executed with data_path='/data/train.csv', 01-q.ipynb with data_path=''"),
    ({"record": RECORD, "executed": False}, "02-q.ipynb, cell 3 was never executed"),
    ({"record": RECORD, "outputs": [nbformat.v4.new_output("error", ename="KeyboardInterrupt", evalue="", traceback=[])]},
     "02-q.ipynb, cell 3: KeyboardInterrupt"),
])
def test_render_refuses_chapters_that_do_not_belong_together(tmp_path, second, message):
    """Before issue 20, render printed Q1 of one run beside Q2-Q5 of another (or unexecuted) with exit 0."""
    executed = _executed_set(tmp_path / "executed", {1: {"record": RECORD}, 2: second})
    with pytest.raises(report.WorkbookError, match=message):
        report.render(executed, tmp_path, pdf=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".executed.lock", "executed"], "nothing rendered"


def test_render_refuses_a_folder_run_did_not_finish(tmp_path):
    executed = _executed_set(tmp_path / "executed", {1: {"record": RECORD}, 2: {"record": RECORD}})
    (executed / "02-q.ipynb").unlink()
    with pytest.raises(report.WorkbookError, match="missing: 02-q.ipynb"):
        report.render(executed, tmp_path, pdf=False)
    (executed / report.MANIFEST).unlink()
    with pytest.raises(report.WorkbookError, match="workbook.json: missing"):
        report.render(executed, tmp_path, pdf=False)
    (executed / "01-q.ipynb").write_text('{"cells": [')  # cut short
    (executed / report.MANIFEST).write_text('{"notebooks": ["01-q.ipynb"]}')
    with pytest.raises(report.WorkbookError, match="01-q.ipynb: not a readable notebook"):
        report.render(executed, tmp_path, pdf=False)


def test_chapters_that_belong_together_render(tmp_path):
    executed = _executed_set(tmp_path / "executed", {1: {"record": RECORD}, 2: {"record": {**RECORD, "model": "dnn",
                                                                                     "run": "dnn_vgg_small-quick-1"}}})
    html_path, pdf_path = report.render(executed, tmp_path, pdf=False)
    assert "result" in html_path.read_text(encoding="utf-8") and pdf_path is None


def _fake_print(html_path, pdf_path, timeout=180, profile_dir=None):
    pdf_path.write_bytes(b"%PDF new")
    return pdf_path


def test_html_and_pdf_are_replaced_together_or_not_at_all(tmp_path, monkeypatch):
    """Before issue 20 a failed print left the new HTML beside the old PDF."""
    import tempfile

    executed = _executed_set(tmp_path / "executed", {1: {"record": RECORD}})
    (tmp_path / "report.html").write_text("old html")
    (tmp_path / "report.pdf").write_bytes(b"%PDF old")
    temporary_before = set(os.listdir(tempfile.gettempdir()))

    def failed_print(html_path, pdf_path, timeout=180, profile_dir=None):
        profile_dir.mkdir()
        raise report.WorkbookError("Chromium could not print")

    monkeypatch.setattr(report, "html_to_pdf", failed_print)
    with pytest.raises(report.WorkbookError, match="could not print"):
        report.render(executed, tmp_path)
    assert (tmp_path / "report.html").read_text() == "old html" and (tmp_path / "report.pdf").read_bytes() == b"%PDF old"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".executed.lock", "executed", "report.html",
                                                                "report.pdf"], "no staging folder, no profile left"
    assert not {name for name in set(os.listdir(tempfile.gettempdir())) - temporary_before
                if name.startswith(("fer-pdf-", "fer-chromium-"))}
    monkeypatch.setattr(report, "html_to_pdf", _fake_print)
    monkeypatch.setattr(report, "set_pdf_metadata", lambda path, *args: path)
    report.render(executed, tmp_path)
    assert "result" in (tmp_path / "report.html").read_text() and (tmp_path / "report.pdf").read_bytes() == b"%PDF new"
    report.render(executed, tmp_path, pdf=False)
    assert not (tmp_path / "report.pdf").exists(), "an HTML-only render removes the PDF of an older render"


@pytest.mark.slow
def test_a_render_killed_while_printing_leaves_the_old_pair_and_the_next_render_cleans_up(tmp_path):
    import sys

    executed = _executed_set(tmp_path / "executed", {1: {"record": RECORD}})
    (tmp_path / "report.html").write_text("old html")
    (tmp_path / "report.pdf").write_bytes(b"%PDF old")
    script = f"""if True:
        import os, signal
        from fer_utils import report
        def killed(html_path, pdf_path, timeout=180, profile_dir=None):
            profile_dir.mkdir()
            os.kill(os.getpid(), signal.SIGKILL)
        report.html_to_pdf = killed
        report.render({str(executed)!r}, {str(tmp_path)!r})
    """
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (tmp_path / "report.html").read_text() == "old html" and (tmp_path / "report.pdf").read_bytes() == b"%PDF old"
    left = [path.name for path in tmp_path.iterdir() if ".staging-" in path.name]
    assert left, "the killed render's staging folder (with Chromium's profile) is still there"
    report.render(executed, tmp_path, pdf=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".executed.lock", ".report.lock", "executed",
                                                                "report.html"]


@pytest.mark.slow
def test_ctrl_c_during_run_is_one_line_naming_the_notebook(tmp_path):
    """Before issue 20 the kernel printed ~15 lines of traceback (its reply met a closed socket) before the line."""
    import signal
    import sys
    import time

    chapters = tmp_path / "notebooks"
    chapters.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_markdown_cell("# Q1 · Title"), nbformat.v4.new_code_cell(
        "import sys, time\nprint('cell started', file=sys.stderr, flush=True)\ntime.sleep(60)")]
    nbformat.write(notebook, str(chapters / "01-slow.ipynb"))
    script = f"""if True:
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell leaves it ignored in background jobs
        from pathlib import Path
        from fer_utils import cli, paths, report
        report.paths.NOTEBOOKS_DIR = Path({str(chapters)!r})
        sys.exit(cli.main(["run", "--out", {str(tmp_path / "executed")!r}]))
    """
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines.append(process.stderr.readline())
        if "cell started" in lines[-1]:
            break
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[1]
    assert process.returncode == 130
    assert [line for line in rest.splitlines() if line.strip()] == [
        f"fer-workbook run: error: interrupted in 01-slow.ipynb; nothing was written to {tmp_path / 'executed'}; run "
        "the same command again (finished training is reused, interrupted training resumes after its last epoch)"]
    assert not (tmp_path / "executed").exists() and not list(tmp_path.glob(".executed.staging-*"))


def _explained_chapter(path, student_text):
    """A chapter closing as the workbook's do: the 說明 heading, the student's cell, the computed explanation."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    student = nbformat.v4.new_markdown_cell(student_text)
    student.metadata["tags"] = [report.STUDENT_EXPLANATION]
    computed = nbformat.v4.new_code_cell("Markdown(narrative.both(...))", execution_count=1)
    computed.metadata["tags"] = [report.COMPUTED_EXPLANATION]
    computed.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "COMPUTED 80.1 %",
                                                                     "text/plain": "Markdown"})]
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q1 · Title\n\n{QUESTIONS[0].zh}"),
                      nbformat.v4.new_markdown_cell("## 說明 / Explanation"), student, computed]
    nbformat.write(notebook, str(path))
    return path


def test_the_students_explanation_prints_as_its_own_with_the_computed_numbers_beneath(tmp_path):
    mine = "<!-- a prompt -->\n我的 CNN 在 happy 上最準，因為嘴角的變化最大。 My own reading of Table 3."
    text = report.to_html([_explained_chapter(tmp_path / "01-q.ipynb", mine)])
    assert "我的 CNN 在 happy 上最準" in text and "a prompt" not in text
    assert text.index("我的 CNN") < text.index("數據重點 / Key numbers") < text.index("COMPUTED 80.1 %")
    assert "computed from this run" not in text


def test_an_empty_explanation_gives_the_computed_one_marked_as_computed(tmp_path):
    text = report.to_html([_explained_chapter(tmp_path / "01-q.ipynb", "<!-- write here -->\n")])
    assert "Key numbers" not in text and "write here" not in text
    assert text.index("computed from this run") < text.index("COMPUTED 80.1 %")
    assert "write your own in the notebook" in text
