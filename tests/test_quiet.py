"""Tests for fer_utils.quiet: no TensorFlow or Jupyter start-up lines on the terminal, real errors still shown."""

import logging
import os
import re
import subprocess
import sys

import pytest

from fer_utils import quiet, synth

# What TensorFlow 2.21 and ipykernel printed at every start before (issue 15), one pattern per kind of line.
STARTUP_LINES = [
    re.escape(quiet.ABSL_PREAMBLE),
    r"^[IW]\d{4} [\d:.]+ +\d+ [\w.\-/]+:\d+\] ",      # any Abseil INFO or WARNING line
    r"oneDNN custom operations are on",
    r"cpu_feature_guard",
    r"node_def_util\.cc.*use_unbounded_threadpool",
    r"running over TCP without encryption",
]


def startup_lines(text):
    """The lines of ``text`` that match one of ``STARTUP_LINES``."""
    return [line for line in text.splitlines() if any(re.search(pattern, line) for pattern in STARTUP_LINES)]


CAPTURED = (f"{quiet.ABSL_PREAMBLE}\n"
            "I0000 00:00:1796018688.888155   31765 port.cc:153] oneDNN custom operations are on. You may see\n"
            "W0000 00:00:1796018688.900000   31765 tensorflow/core/foo.cc:12] a warning\n"
            "E0000 00:00:1796018698.313650   31765 node_def_util.cc:682] an error\n"
            "F1130 06:12:01.000001    4242 check.cc:7] Check failed: a fatal one\n"
            "Traceback (most recent call last): printed by Python\n")


def test_the_filter_drops_the_preamble_and_the_hidden_severities_only():
    assert quiet.startup_filter(CAPTURED, "IW").splitlines() == CAPTURED.splitlines()[3:]
    assert quiet.startup_filter(CAPTURED, "I").splitlines() == CAPTURED.splitlines()[2:]
    assert quiet.startup_filter(CAPTURED, "") == CAPTURED


@pytest.mark.parametrize("environ, severities", [
    ({}, ""), ({"TF_CPP_MIN_LOG_LEVEL": "0"}, ""), ({"TF_CPP_MIN_LOG_LEVEL": "1"}, "I"),
    ({"TF_CPP_MIN_LOG_LEVEL": "2"}, "IW"), ({"TF_CPP_MIN_LOG_LEVEL": "3"}, "IW"),
    ({"TF_CPP_MIN_LOG_LEVEL": "loud"}, ""), ({"TF_CPP_MIN_LOG_LEVEL": "2", "FER_DEBUG": "1"}, ""),
])
def test_the_hidden_severities_follow_tf_cpp_min_log_level(environ, severities):
    assert quiet.hidden_severities(environ) == severities


def test_configure_environment_keeps_the_users_own_level():
    assert quiet.configure_environment({})["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert quiet.configure_environment({"TF_CPP_MIN_LOG_LEVEL": "0"})["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_filtered_stderr_catches_what_cpp_writes_to_descriptor_2(capfd):
    with quiet.filtered_stderr("IW"):
        os.write(2, CAPTURED.encode())  # as a C++ library writes: below sys.stderr
        print("a Python line", file=sys.stderr)
    err = capfd.readouterr().err
    assert "oneDNN" not in err and quiet.ABSL_PREAMBLE not in err and "a warning" not in err
    for kept in ("node_def_util.cc:682] an error", "Check failed: a fatal one", "printed by Python", "a Python line"):
        assert kept in err


@pytest.mark.slow
def test_importing_keras_after_activate_prints_nothing_unless_asked_to():
    """The control run (TF_CPP_MIN_LOG_LEVEL=0: every TensorFlow line) shows the lines are there to be dropped."""
    env = {name: value for name, value in os.environ.items() if name not in ("TF_CPP_MIN_LOG_LEVEL", "FER_DEBUG")}
    command = [sys.executable, "-c", "from fer_utils import quiet; quiet.activate(); import keras; "
               "print(keras.ops.add(1, 1))"]
    default = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    loud = subprocess.run(command, capture_output=True, text=True, env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}, timeout=300)
    assert default.returncode == 0 and loud.returncode == 0, default.stderr + loud.stderr
    assert default.stdout.strip() == "tf.Tensor(2, shape=(), dtype=int32)"
    assert default.stderr == "", default.stderr[-2000:]
    if not startup_lines(loud.stderr):  # oneDNN's line needs AVX512-VNNI, AVX-VNNI or AMX; then Abseil logs nothing
        pytest.skip("this TensorFlow prints no start-up lines on this CPU: nothing to check the filter against")


def test_chromiums_pdf_trailer_warning_is_dropped_and_no_other(caplog):
    quiet.quiet_known_warnings()
    logger = logging.getLogger("pypdf._writer")
    with caplog.at_level(logging.WARNING):
        logger.warning("Object count %(object_count)d exceeds defined trailer size %(trailer_size)d",
                       {"object_count": 3012, "trailer_size": 3001})
        logger.warning("a different pypdf warning")
    assert [record.getMessage() for record in caplog.records] == ["a different pypdf warning"]


@pytest.mark.skipif(os.name == "nt", reason="Windows has no IPC transport")
def test_kernels_talk_over_ipc_sockets_named_for_this_process():
    config = quiet.kernel_options()["config"]
    assert config.KernelManager.transport == "ipc"
    assert config.KernelManager.ip.endswith(f"fer-kernel-{os.getpid()}") and len(config.KernelManager.ip) < 90


@pytest.mark.slow
def test_train_prints_its_results_and_no_startup_lines_and_errors_still_show(tmp_path):
    data = synth.write_csv(tmp_path / "fer2013.csv", n=420, seed=3, progress=False)
    env = {name: value for name, value in os.environ.items() if name not in ("TF_CPP_MIN_LOG_LEVEL", "FER_DEBUG")}
    env.update(FER_RUNS_DIR=str(tmp_path / "runs"), FER_CACHE_DIR=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "fer_utils", "--quiet", "train", "--param", "epochs=1", "--param", "max_train_rows=0"]
    trained = subprocess.run([*command, "--data", str(data)], capture_output=True, text=True, env=env, timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "PrivateTest: accuracy" in trained.stdout  # its own results (evaluated after op determinism was on)
    assert startup_lines(trained.stderr) == [] and trained.stderr.strip() == "", trained.stderr[-2000:]

    missing = subprocess.run([*command, "--data", str(tmp_path / "no_such.csv")], capture_output=True, text=True,
                             env=env, timeout=600)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [f"fer-workbook train: error: {tmp_path / 'no_such.csv'}: no such "
                                                   "file or folder"]


@pytest.mark.slow
def test_papermill_kernels_start_without_transport_or_tensorflow_lines(tmp_path, capfd):
    """One throwaway chapter through report.run: the kernel imports TensorFlow and predicts under op determinism."""
    import nbformat

    from fer_utils import report

    chapters = tmp_path / "notebooks"
    chapters.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("rows: int = 4  # faces to predict")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [nbformat.v4.new_markdown_cell("# Q1 · Quiet"), parameters, nbformat.v4.new_code_cell(
        "import keras\nimport tensorflow as tf  # before fer_utils, as the notebooks' set-up cells do\n"
        "from fer_utils import evaluate, models\n"
        "import numpy as np\n"
        "tf.config.experimental.enable_op_determinism()  # as training leaves it\n"
        "print(evaluate.predict_probabilities(models.build('vgg_small'), np.zeros((rows, 48, 48, 1), np.uint8)).shape)"),
        nbformat.v4.new_code_cell("import sys\nprint('training: 3/3 epochs', file=sys.stderr)")]
    nbformat.write(notebook, str(chapters / "01-quiet.ipynb"))
    capfd.readouterr()
    executed = report.run({"rows": 3}, notebooks_dir=chapters, out_dir=tmp_path / "executed", progress=True)
    err = capfd.readouterr().err  # the kernel writes to this process's descriptor 2
    assert startup_lines(err) == [], err[-2000:]
    assert "training: 3/3 epochs" in err  # the notebook's own progress reaches the terminal
    assert "Executing" not in err  # and papermill's bar over cells does not cover it
    outputs = [output for cell in nbformat.read(str(executed[0]), as_version=4).cells if cell.cell_type == "code"
               for output in cell.outputs]
    # no stderr stream from TensorFlow in the notebook either: only the chapter's own line
    assert [(output.get("name"), output.get("text")) for output in outputs] == [
        ("stdout", "(3, 7)\n"), ("stderr", "training: 3/3 epochs\n")]


def test_kernels_log_only_critical_records_unless_debugging():
    """After Ctrl-C the kernel's last reply meets a closed socket; before issue 20 it printed a 15-line traceback."""
    start = f"--IPKernelApp.exec_lines={quiet.KERNEL_START}"
    assert quiet.kernel_options(environ={})["extra_arguments"] == [start, "--IPKernelApp.log_level=CRITICAL"]
    assert quiet.kernel_options(environ={"FER_DEBUG": "1"})["extra_arguments"] == [start]


@pytest.mark.slow
def test_importing_fer_utils_leaves_the_process_as_it_was():
    """Issue 23: a student's own kernel that imports fer_utils keeps its environment, import system and warnings."""
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    probe = ("import os, sys, logging; before = list(sys.meta_path); import fer_utils, fer_utils.workbook; "
             "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), sys.meta_path == before, "
             "logging.getLogger('pypdf._writer').filters == [])")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert result.stdout.split() == ["None", "True", "True"], result.stderr[-2000:]
