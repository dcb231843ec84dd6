"""Printing the report: headless Chromium (or Chrome) prints the HTML to an A4 PDF; pypdf sets its metadata."""

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from fer_utils import paths
from fer_utils.errors import WorkbookError


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
