"""Checks of the chapter notebooks as documents: header, parameters, thin cells, conclusion, order."""

import re

import nbformat
import papermill
import pytest

from questions import QUESTIONS

from fer_utils import execution, glue, paths, report, workbook

CHAPTERS = report.notebooks()
#: The cells where the student builds the network a question asks about (Q1's CNN, Q2's DNN).
STUDENT_MODEL = "student-model"


def test_five_chapters_then_the_appendix_named_in_order():
    assert [path.name[:2] for path in CHAPTERS] == ["01", "02", "03", "04", "05", "06"]
    assert CHAPTERS[-1].name == "06-your-faces.ipynb"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_header_has_a_bilingual_title_and_the_question(path):
    notebook = nbformat.read(str(path), as_version=4)
    first = notebook.cells[0]
    assert first.cell_type == "markdown"
    number = int(path.name[:2])
    lines = first.source.splitlines()
    if number <= len(QUESTIONS):
        question = QUESTIONS[number - 1]
        assert re.fullmatch(rf"# Q{number} · [^/]*[\u4e00-\u9fff][^/]* / [A-Za-z].+", lines[0]), \
            f"issue 22: a bilingual title, Chinese then English: {lines[0]}"
        assert question.zh in first.source and question.en in first.source
    else:  # issue 25: the appendix, beyond the course's questions, says what it does in both languages
        assert re.fullmatch(r"# 附錄 · [^/]*[\u4e00-\u9fff][^/]* / Appendix · [A-Za-z].+", lines[0]), lines[0]
        assert "**附錄.**" in first.source and "**Appendix.**" in first.source
    assert [cell.metadata.get("tags", []) for cell in notebook.cells[-2:]] == [
        ["student-explanation"], ["computed-explanation"]], "the notebook closes with the student's 說明, then the computed one"
    assert notebook.cells[-3].source.startswith("## 說明 / Explanation"), "the 說明 heading opens the explanation"
    headings = [cell.source.splitlines()[0] for cell in notebook.cells if cell.cell_type == "markdown" and cell.source]
    assert "## 答 / Answer" in headings, "the answer (答) section is missing"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_plumbing_is_tagged_out_of_the_report(path):
    """Set-up, parameters and the run call stay in the notebook for JupyterLab; their tags keep them out of the report."""
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        plumbing = (cell.source.startswith(("## Setup", "Parameters (papermill")) or "parameters" in tags
                    or re.search(r"^(from|import) ", cell.source, re.MULTILINE) and cell.cell_type == "code"
                    and "pd.DataFrame" not in cell.source and STUDENT_MODEL not in tags
                    or re.search(r"\b(train_cnn|trained_cnn|train_dnn|glue)\(", cell.source))
        if plumbing:
            assert "remove-cell" in tags, f"{path.name}: {cell.source[:60]!r} needs the remove-cell tag"
    captions = [cell for cell in notebook.cells
                if {"caption-figure", "caption-table"} & set(cell.metadata.get("tags", []))]
    assert captions and all("/" in cell.source and "\n" not in cell.source.strip() for cell in captions), \
        "captions: Chinese / English, one line"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_parameters_cell_is_tagged_typed_and_documented(path):
    notebook = nbformat.read(str(path), as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    lines = [line for line in tagged[0].source.splitlines() if line.strip()]
    parameters = papermill.inspect_notebook(str(path))
    assert len(parameters) == len(lines), "papermill could not parse every parameter line"
    for name, spec in parameters.items():
        assert spec["inferred_type_name"] in ("str", "int", "float", "bool"), name
        assert spec["help"], f"{name} has no comment"
    for name in ("data_path", "profile", "seed"):
        assert name in parameters
    assert ("model" in parameters) == (path.name == "01-cnn.ipynb"), "only Q1 chooses the CNN; Q2-Q5 find Q1's"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.name)
def test_cells_are_thin_and_logic_lives_in_fer_utils(path):
    """Every cell but the student's own (the model cells tagged ``student-model``) is a call, a figure or a sentence."""
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or "parameters" in tags or STUDENT_MODEL in tags:
            continue  # the parameters cell is a flat list of declarations; the model cells are the student's
        code_lines = [line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")]
        assert len(code_lines) <= 8, cell.source
        assert not re.search(r"^\s*(def|class|for|while) ", cell.source, re.MULTILINE), cell.source
        assert "../" not in cell.source and "/work/" not in cell.source


def test_no_code_cell_is_copied_between_notebooks():
    seen = {}
    for path in CHAPTERS:
        for cell in nbformat.read(str(path), as_version=4).cells:
            source = cell.source.strip()
            if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []) or len(source) < 60:
                continue
            assert source not in seen, f"{path.name} repeats a cell of {seen.get(source)}"
            seen[source] = path.name


def test_committed_notebooks_carry_recorded_outputs_and_no_errors():
    for path in CHAPTERS:
        notebook = nbformat.read(str(path), as_version=4)
        outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
        assert outputs, f"{path.name} has no recorded outputs (run `make notebooks`)"
        assert not [output for output in outputs if output.output_type == "error"], path.name
        assert str(paths.PROJECT_ROOT) not in nbformat.writes(notebook), f"{path.name} records a local path"
        glued = [output.data[glue.GLUE_MIME] for output in outputs if glue.GLUE_MIME in output.get("data", {})]
        absolute = [text for text in _strings(glued) if text.startswith(("/", "~")) or re.match(r"[A-Za-z]:\\", text)]
        assert not absolute, f"{path.name} records absolute paths (wherever it was recorded): {absolute}"


def _strings(value):
    """Every string inside nested lists and dicts."""
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in items for text in _strings(item)]


def test_recorded_notebooks_name_files_relative_to_the_project():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("chapter")])
    inside = str(paths.PROJECT_ROOT / "data" / "synthetic" / "fer2013.csv.gz")
    notebook.cells[0].outputs = [nbformat.v4.new_output("display_data", data={
        glue.GLUE_MIME: {"origin": {"path": inside, "elsewhere": "/srv/faces/train.csv"}}, "text/plain": inside})]
    recorded = execution._project_relative(notebook).cells[0].outputs[0].data
    assert recorded[glue.GLUE_MIME]["origin"] == {"path": "data/synthetic/fer2013.csv.gz",
                                                       "elsewhere": "/srv/faces/train.csv"}
    assert recorded["text/plain"] == "data/synthetic/fer2013.csv.gz"


def test_the_students_explanation_cells_are_committed_empty():
    for path in CHAPTERS:
        notebook = nbformat.read(str(path), as_version=4)
        cells = [cell for cell in notebook.cells if report.STUDENT_EXPLANATION in cell.metadata.get("tags", [])]
        assert len(cells) == 1 and cells[0].cell_type == "markdown", path.name
        assert report.student_text(cells[0].source) == "", f"{path.name}: a student's text was committed"


def _model_cell(name, function):
    """The function a chapter's student-model cell defines, executed on its own (nothing trained)."""
    import keras
    from keras import layers

    from fer_utils import models

    notebook = nbformat.read(str(paths.NOTEBOOKS_DIR / name), as_version=4)
    (cell,) = [cell for cell in notebook.cells if STUDENT_MODEL in cell.metadata.get("tags", [])]
    source = cell.source[:cell.source.index(f"\n\n\n")]  # the definition, not the lines that build and print
    namespace = {"keras": keras, "layers": layers, "models": models, "workbook": workbook}
    exec(compile(source, name, "exec"), namespace)
    return namespace[function]


@pytest.mark.parametrize("profile", ["quick", "cpu", "full"])
def test_the_cnn_written_out_in_q1_is_the_profiles_preset(profile):
    """Unedited, Q1's cell builds the preset layer for layer, so its run is the CLI's run (same architecture hash)."""
    from fer_utils import config, models

    build_cnn = _model_cell("01-cnn.ipynb", "build_cnn")
    preset = config.resolve(profile).model
    assert models.architecture(build_cnn(**workbook.cnn_options(profile))) == models.architecture(models.build(preset))


def test_the_dnn_written_out_in_q2_is_the_matched_dnn():
    from fer_utils import models

    build_dnn = _model_cell("02-dnn.ipynb", "build_dnn")
    widths = models.matching_widths(70551)
    assert models.architecture(build_dnn(widths)) == models.architecture(models.dnn_matching(70551))
