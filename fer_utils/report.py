"""The workbook pipeline: ``run`` executes the question notebooks (``execution``); ``render`` reads them back
(``chapters``), builds the HTML (``document``), prints the PDF (``printing``) and checks it (``layout``)."""

import shutil
from pathlib import Path

from fer_utils import atomic, layout, paths
from fer_utils.chapters import Executed, check_together, glued, read_executed, read_workbook
from fer_utils.document import (COMPUTED_EXPLANATION, PLACEHOLDER, REPORT_CSS,
                                REPORT_TITLE, STUDENT_EXPLANATION, student_text, to_html)
from fer_utils.errors import LayoutError, WorkbookError
from fer_utils.execution import (MANIFEST, coerce_parameters, duration, notebooks, record,
                                 run)
from fer_utils.printing import find_chromium, html_to_pdf, set_pdf_metadata

#: The pipeline's public names, wherever they live.
__all__ = ["COMPUTED_EXPLANATION", "Executed", "LayoutError", "MANIFEST", "PLACEHOLDER", "REPORT_CSS",
           "REPORT_TITLE", "STUDENT_EXPLANATION", "WorkbookError", "check_together", "coerce_parameters", "duration",
           "find_chromium", "glued", "html_to_pdf", "notebooks", "read_executed", "read_workbook", "record", "render",
           "run", "set_pdf_metadata", "student_text", "to_html"]


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
