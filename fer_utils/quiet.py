"""A quiet terminal: TensorFlow's and Jupyter's start-up lines silenced where they start, real errors kept.

What is silenced, and how (each measured on TensorFlow 2.21, ipykernel 7, jupyter_client 8):

- TensorFlow's own C++ INFO and WARNING lines (``cpu_feature_guard``): ``TF_CPP_MIN_LOG_LEVEL=2``, set before
  TensorFlow is imported (``ENVIRONMENT``, applied by ``activate``; kernels inherit it).
- ``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR`` followed by
  ``I0000 ... port.cc:153] oneDNN custom operations are on``, once for each of ``libtensorflow_framework.so.2``
  and ``_pywrap_profiler_plugin.so``: their static initialisers log through Abseil while the libraries load,
  before TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` (0 to 3 change nothing, nor ``GLOG_minloglevel`` or
  ``TF_ENABLE_ONEDNN_OPTS=1``) and before any code could call Abseil's ``SetMinLogLevel`` (the plugin's own
  copy of Abseil is not even exported). ``TF_ENABLE_ONEDNN_OPTS=0`` would silence them by turning oneDNN off.
  ``install()`` applies ``TF_CPP_MIN_LOG_LEVEL`` to them instead: while ``tensorflow`` itself is imported,
  file descriptor 2 goes to a temporary file, and afterwards every line is written back to stderr except
  Abseil's preamble and the Abseil-format lines below that level (``I`` for 1, ``I``/``W`` for 2 or 3).
  Errors (``E``, ``F``) and anything else printed during the import pass through; a crash during the import
  still prints its Python traceback (``faulthandler`` on the real stderr).
- ``E0000 ... node_def_util.cc ... use_unbounded_threadpool`` after each prediction once training has turned
  op determinism on: avoided, not hidden (``fer_utils.evaluate._predict`` says how).
- ipykernel's "Kernel is running over TCP without encryption" warning: papermill's kernels talk over local
  IPC sockets instead (``kernel_options``, used by ``fer_utils.report.run``), as the warning recommends.
- pypdf's repaired-trailer warning on Chromium's PDF (``quiet_known_warnings``).

``TF_CPP_MIN_LOG_LEVEL=0`` (every TensorFlow log line) or ``FER_DEBUG=1`` turns the filtering off.
"""

import contextlib
import faulthandler
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile

#: Set (when unset) before TensorFlow is imported; kernels started by papermill inherit them.
ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2"}
#: Abseil's notice that it was used before initialisation (printed once per library that logs early).
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
#: An Abseil log line: severity letter, MMDD, time (before initialisation "00:00:<epoch seconds>.<micro>"),
#: thread, file:line] message.
ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [\w.\-/]+:\d+\] ")
#: The Abseil severities ``TF_CPP_MIN_LOG_LEVEL`` (0 all, 1 no INFO, 2 and 3 no INFO or WARNING) hides.
HIDDEN_SEVERITIES = {0: "", 1: "I", 2: "IW", 3: "IW"}


def configure_environment(environ=None):
    """Set ``ENVIRONMENT``'s variables that are unset (a user's own ``TF_CPP_MIN_LOG_LEVEL`` wins).

    Args:
        environ: the mapping to change (default ``os.environ``).
    Returns:
        The mapping.
    """
    environ = os.environ if environ is None else environ
    for name, value in ENVIRONMENT.items():
        environ.setdefault(name, value)
    return environ


def hidden_severities(environ=None):
    """The Abseil severity letters to drop from TensorFlow's import, from ``TF_CPP_MIN_LOG_LEVEL`` ("" for none)."""
    environ = os.environ if environ is None else environ
    if environ.get("FER_DEBUG"):
        return ""
    try:
        level = int(environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return ""
    return HIDDEN_SEVERITIES[min(max(level, 0), 3)]


def startup_filter(text, severities):
    """``text`` without Abseil's preamble and without the Abseil lines of the given severities.

    Args:
        text: what was written to stderr.
        severities: severity letters to drop, e.g. "IW".
    Returns:
        The text that stays, lines in their order (a dropped line's continuation lines, which do not start
        like a log line, stay too: TensorFlow's start-up lines are one line each).
    """
    if not severities:
        return text
    kept = []
    for line in text.splitlines(keepends=True):
        match = ABSL_LINE.match(line)
        if line.rstrip("\r\n") == ABSL_PREAMBLE or (match and match.group(1) in severities):
            continue
        kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def filtered_stderr(severities):
    """Collect what is written to file descriptor 2 (C++ libraries included), then write back ``startup_filter``'s text.

    If stderr has no file descriptor (some embedded interpreters), nothing is filtered. A hard crash inside
    (a segmentation fault, an abort) prints faulthandler's Python traceback on the real stderr, but what was
    written before it is lost with the process: ``TF_CPP_MIN_LOG_LEVEL=0`` or ``FER_DEBUG=1`` shows it.

    Args:
        severities: Abseil severity letters to drop (``hidden_severities``).
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):
        yield
        return
    handler_was_on = faulthandler.is_enabled()
    real_stderr = os.fdopen(saved, "w", closefd=False)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        faulthandler.enable(real_stderr)  # a crash while stderr is captured still shows where
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            if handler_was_on and sys.__stderr__ is not None:
                faulthandler.enable(sys.__stderr__)  # where it was (ipykernel's default too)
            else:
                faulthandler.disable()
            os.close(saved)
            captured.seek(0)
            text = startup_filter(captured.read().decode("utf-8", errors="replace"), severities)
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()


class _FilteredLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow`` inside ``filtered_stderr``, then hands the module its real loader."""

    def __init__(self, loader, severities):
        self.loader, self.severities = loader, severities

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        with filtered_stderr(self.severities):
            self.loader.exec_module(module)


class _TensorFlowImportFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, through the other finders, and wraps its loader in ``_FilteredLoader``."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()
        severities = hidden_severities()
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None and severities:
            spec.loader = _FilteredLoader(spec.loader, severities)
        return spec


def install():
    """Filter TensorFlow's start-up lines when ``tensorflow`` is first imported, by anyone (keras included).

    Does nothing when TensorFlow is already imported. Call before importing keras or TensorFlow (``activate``).
    """
    if "tensorflow" in sys.modules or any(isinstance(finder, _TensorFlowImportFinder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _TensorFlowImportFinder())


def uninstall():
    """Stop filtering TensorFlow's import (``install`` undone)."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _TensorFlowImportFinder)]


def activate():
    """Quiet this process: ``configure_environment``, ``install`` and ``quiet_known_warnings``, before TensorFlow is
    imported. Called by ``fer-workbook`` (``cli.main``) and at the start of the kernels it runs notebooks in
    (``kernel_options``); importing ``fer_utils`` does not call it, so a student's own kernel keeps every line."""
    configure_environment()
    install()
    quiet_known_warnings()


#: Run by a papermill kernel before its first cell (``--IPKernelApp.exec_lines``): a notebook that imports keras
#: before fer_utils is quiet too.
KERNEL_START = "import fer_utils.quiet; fer_utils.quiet.activate()"


def kernel_options(socket_prefix=None, environ=None):
    """Keyword arguments for ``papermill.execute_notebook`` that start a quiet kernel.

    ipykernel warns at every start that TCP is unencrypted; the kernel and papermill talk over local IPC sockets
    instead (files ``<socket_prefix>-1`` ... ``-5``, removed when the kernel shuts down), as the warning
    recommends: no open port either. Windows has no IPC transport: there the kernel keeps TCP. The kernel's own
    log (its process's stderr, not the notebook's) shows only CRITICAL records: after Ctrl-C its last reply meets
    a closed socket and it would print a 15-line traceback of that, though a cell's errors reach the notebook
    anyway. ``FER_DEBUG=1`` keeps the kernel's whole log.

    The kernel runs ``KERNEL_START`` before the first cell, so TensorFlow's start-up lines are filtered there too.

    Args:
        socket_prefix: path prefix of the sockets (default: ``fer-kernel-<pid>`` in the temporary folder; a
            Unix socket's path must stay under ~100 characters).
        environ: the environment to read ``FER_DEBUG`` from (default ``os.environ``).
    Returns:
        {"extra_arguments": [...]} and, except on Windows, {"config": traitlets Config}.
    """
    environ = os.environ if environ is None else environ
    start = [f"--IPKernelApp.exec_lines={KERNEL_START}"]
    options = {"extra_arguments": start + ([] if environ.get("FER_DEBUG") else ["--IPKernelApp.log_level=CRITICAL"])}
    if os.name == "nt":
        return options
    from traitlets.config import Config

    prefix = socket_prefix or os.path.join(tempfile.gettempdir(), f"fer-kernel-{os.getpid()}")
    return {**options, "config": Config({"KernelManager": {"transport": "ipc", "ip": prefix}})}


class _DropMessage(logging.Filter):
    """Drops a logger's records whose message template starts with ``prefix``."""

    def __init__(self, prefix):
        super().__init__()
        self.prefix = prefix

    def filter(self, record):
        return not str(record.msg).startswith(self.prefix)


def quiet_known_warnings():
    """Drop third-party warnings the user can do nothing about (each named here, nothing else).

    - pypdf's "Object count N exceeds defined trailer size M" when ``report.set_pdf_metadata`` copies Chromium's
      PDF (the trailer of Chromium's PDF declares fewer objects than it holds; pypdf writes the right count).
    """
    logger = logging.getLogger("pypdf._writer")
    if not any(isinstance(existing, _DropMessage) for existing in logger.filters):
        logger.addFilter(_DropMessage("Object count %(object_count)d exceeds defined trailer size"))
