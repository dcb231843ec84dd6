"""Tests for writes that survive faults: atomic files, the umask, submissions that never clobber their input."""

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from questions import QUESTIONS

from fer_utils import cli, data, paths, predict, synth


@pytest.fixture
def umask():
    """Set the process umask for one test: ``umask(0o077)``; the previous umask is restored afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def listing(folder):
    return sorted(item.name for item in folder.iterdir())


def tiny_dataset(rows=3, form="ml2017-test", paths_=None):
    return data.Dataset(x=np.zeros((rows, 48, 48, 1), np.uint8), y=np.full(rows, -1), usage=np.full(rows, "Test"),
                        ids=np.arange(10, 10 + rows), source="memory", form=form, content_hash="",
                        **({"paths": np.array(paths_)} if paths_ is not None else {}))


# ------------------------------------------------------------------------------------------ atomic_write


@pytest.mark.parametrize("mode, old, new", [("w", "old text\n", "new"), ("wb", b"old bytes", b"new")])
def test_atomic_write_replaces_the_file_whole_or_not_at_all(tmp_path, mode, old, new):
    target = tmp_path / "file.txt"
    with paths.atomic_write(target, mode) as handle:
        handle.write(old)
    assert (target.read_bytes() if "b" in mode else target.read_text()) == old
    with pytest.raises(OSError, match="No space left"):
        with paths.atomic_write(target, mode) as handle:
            handle.write(new * 10_000)  # half the file is written when the disk fills up
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert (target.read_bytes() if "b" in mode else target.read_text()) == old and listing(tmp_path) == ["file.txt"]
    with paths.atomic_write(tmp_path / "new" / "b.bin", "wb") as handle:  # parent folders are created
        handle.write(b"\0\1")
    assert (tmp_path / "new" / "b.bin").read_bytes() == b"\0\1" and listing(tmp_path / "new") == ["b.bin"]


def test_atomic_write_refuses_a_folder_before_writing(tmp_path):
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        with paths.atomic_write(tmp_path) as handle:
            pytest.fail(f"opened {handle}")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_created_files_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    expected = 0o666 & ~mask
    with paths.atomic_write(tmp_path / "a.txt", "w") as handle:
        handle.write("a")
    csv = synth.write_csv(tmp_path / "fer2013.csv", n=14, seed=0, progress=False)
    load = data.load(csv, cache_dir=tmp_path / "cache", progress=False)
    cache_file = tmp_path / "cache" / f"fer2013-{load.content_hash}.npz"
    out = predict.write_submission(tmp_path / "submission.csv", load, np.zeros(len(load), int))
    for path in (tmp_path / "a.txt", csv, cache_file, out):
        assert oct(path.stat().st_mode & 0o777) == oct(expected), path


# ------------------------------------------------------------------------------------------------- synth


def test_synth_out_naming_a_folder_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ValueError, match=f"{tmp_path}: is a folder"):
        synth.write_csv(tmp_path, n=14, progress=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "synth", "--out", str(tmp_path), "--rows", "14"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and str(tmp_path) in err
    assert listing(tmp_path) == []


# ---------------------------------------------------------------------------------------------- predict


def test_write_submission_writes_ids_and_for_folders_paths(tmp_path):
    out = predict.write_submission(tmp_path / "deep" / "sub.csv", tiny_dataset(), np.array([3, 0, 6]))
    assert out.read_text() == "id,label\n10,3\n11,0\n12,6\n"
    folders = tiny_dataset(2, "folders", ["test/a.png", "test/b,c.png"])
    predict.write_submission(out, folders, [1, 2])
    assert out.read_text() == 'id,label,path\n10,1,test/a.png\n11,2,"test/b,c.png"\n'
    with pytest.raises(ValueError, match="3 labels for 2 rows"):
        predict.write_submission(out, folders, [1, 2, 3])


def test_write_submission_refuses_to_overwrite_an_input(tmp_path):
    source = tmp_path / "test.csv"
    source.write_text("id,feature\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(source)
    for out in (source, tmp_path / "sub" / ".." / "test.csv", tmp_path / "link.csv"):
        with pytest.raises(ValueError) as error:
            predict.write_submission(out, tiny_dataset(), [0, 0, 0], inputs=[tmp_path / "unrelated", source])
        assert str(out) in str(error.value) and str(source) in str(error.value)
    assert source.read_text() == "id,feature\n"
    with pytest.raises(ValueError, match=f"{tmp_path / 'sub'}: is a folder"):
        predict.write_submission(tmp_path / "sub", tiny_dataset(), [0, 0, 0])


def test_a_write_that_fails_half_way_keeps_the_previous_submission(tmp_path):
    """A real file-size limit (as on a full disk): the write fails with EFBIG part-way through."""
    out = tmp_path / "submission.csv"
    out.write_text("id,label\n1,3\n")
    script = textwrap.dedent(f"""
        import resource, signal, numpy as np
        from fer_utils import data, predict
        rows = 3000  # about 21 KB of id,label lines, over the 8 KB limit
        dataset = data.Dataset(x=np.zeros((rows, 48, 48, 1), np.uint8), y=np.full(rows, -1),
                               usage=np.full(rows, "Test"), ids=np.arange(rows) + 1000, source="memory",
                               form="ml2017-test", content_hash="")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write() returns EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            predict.write_submission({str(out)!r}, dataset, np.zeros(rows, int))
        except OSError as error:
            print("failed", error.errno)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=paths.PROJECT_ROOT)
    assert result.stdout.strip() == f"failed {errno.EFBIG}", result.stderr[-2000:]
    assert out.read_text() == "id,label\n1,3\n" and listing(tmp_path) == ["submission.csv"]


@pytest.mark.parametrize("out", ["{data}", "{folder}"])
def test_predict_refuses_a_bad_out_before_loading_the_run(tmp_path, capsys, out):
    source = tmp_path / "test.csv"
    source.write_text("id,feature\n")
    out = out.format(data=source, folder=tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "predict", "--run", str(tmp_path / "no_run"), "--data", str(source), "--out", out])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and out in err and "not a finished run" not in err
    assert source.read_text() == "id,feature\n"


# ------------------------------------------------------------------------------------- training runs

TRAIN_SCRIPT = textwrap.dedent('''
    import os, signal, sys
    import keras
    from fer_utils import config, data, train

    csv, runs_dir, kill = sys.argv[1], sys.argv[2], sys.argv[3]  # kill: "", or SIGNAL:EPOCH[:BATCH]
    # Ctrl-C as in a terminal, even when the tests run in the background (where a shell starts every
    # command with SIGINT ignored, and Python then installs no KeyboardInterrupt handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    class Kill(keras.callbacks.Callback):
        """Sends the signal to this process at the end of an epoch, or at a batch inside it."""
        def __init__(self, spec):
            super().__init__()
            name, *where = spec.split(":")
            self.signal, self.epoch = getattr(signal, name), int(where[0])
            self.batch = int(where[1]) if len(where) > 1 else None
        def on_epoch_begin(self, epoch, logs=None):
            self.current = epoch
        def fire(self):
            os.kill(os.getpid(), self.signal)
        def on_train_batch_end(self, batch, logs=None):
            if self.batch is not None and self.current == self.epoch and batch == self.batch:
                self.fire()
        def on_epoch_end(self, epoch, logs=None):
            if self.batch is None and epoch == self.epoch:
                self.fire()

    settings = config.resolve("quick", max_train_rows=0, epochs=4, batch_size=32, patience=100, time_budget=0.0,
                              tta="none", average_tail=0.5, cutmix=0.5)  # every random stream of training on
    dataset = data.load(csv, progress=False)
    run = train.train(settings, dataset=dataset, runs_dir=runs_dir, progress=False,
                      extra_callbacks=[Kill(kill)] if kill else [])
    print(run.directory)
''')


@pytest.fixture(scope="module")
def run_csv(tmp_path_factory):
    return synth.write_csv(tmp_path_factory.mktemp("runs") / "fer2013.csv", n=420, seed=3, progress=False)


def _train(script, csv, runs_dir, kill=""):
    environment = {**os.environ, "FER_CACHE_DIR": str(runs_dir.parent / "cache")}
    return subprocess.run([sys.executable, str(script), str(csv), str(runs_dir), kill], capture_output=True,
                          text=True, timeout=600, env=environment)


def _final(directory):
    """(weights of model.keras, the history's losses and validation accuracies, metrics.json)."""
    import json

    import keras
    import pandas as pd

    from fer_utils import models  # noqa: F401  (registers the fused batch norm)

    model = keras.models.load_model(directory / "model.keras", compile=False)
    history = pd.read_csv(directory / "history.csv")
    return model.get_weights(), history[["loss", "val_accuracy"]].to_numpy(), json.loads(
        (directory / "metrics.json").read_text())


@pytest.mark.heavy
@pytest.mark.slow
def test_killed_runs_resume_to_the_weights_and_history_of_an_uninterrupted_run(run_csv, tmp_path):
    from pathlib import Path

    script = tmp_path / "train_script.py"
    script.write_text(TRAIN_SCRIPT)
    whole = _train(script, run_csv, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    reference = _final(Path(whole.stdout.strip().splitlines()[-1]))

    # Ctrl-C after epoch 2 and in the middle of epoch 4 (its weight average holds epoch 3), kill -9 in the
    # middle of epoch 3 (before the average starts)
    for kill in ("SIGINT:1", "SIGINT:3:5", "SIGKILL:2:3"):
        runs_dir = tmp_path / kill.replace(":", "-")
        stopped = _train(script, run_csv, runs_dir, kill)
        assert stopped.returncode != 0, f"{kill}: the run was not interrupted"
        if kill.startswith("SIGINT"):
            done = int(kill.split(":")[1]) + (1 if kill.count(":") == 1 else 0)
            assert f"interrupted after epoch {done} of at most 4; run the same command to resume" in stopped.stderr
        (directory,) = [path for path in runs_dir.iterdir() if path.is_dir()]
        assert not (directory / "metrics.json").exists() and (directory / "backup" / "state.json").exists()
        resumed = _train(script, run_csv, runs_dir)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "resuming" in resumed.stderr
        weights, history, metrics = _final(directory)
        np.testing.assert_array_equal(history, reference[1], err_msg=kill)
        for got, expected in zip(weights, reference[0]):
            np.testing.assert_array_equal(got, expected, err_msg=kill)
        assert metrics["best_epoch"] == reference[2]["best_epoch"] and metrics["epochs_run"] == 4
        assert metrics["splits"] == reference[2]["splits"]
        assert not (directory / "backup").exists()


@pytest.mark.slow
def test_a_second_train_of_the_same_run_waits_for_the_first(run_csv, tmp_path):
    import time

    script = tmp_path / "train_script.py"
    script.write_text(TRAIN_SCRIPT)
    environment = {**os.environ, "FER_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, str(script), str(run_csv), str(tmp_path / "runs"), ""]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    deadline = time.monotonic() + 300
    while not list((tmp_path / "runs").glob("*/.lock")) or not list((tmp_path / "runs").glob("*/.lock"))[0].read_text():
        assert time.monotonic() < deadline and first.poll() is None, "the first train never locked its run"
        time.sleep(0.2)
    second = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0 and second.returncode == 0, err[-2000:] + second.stderr[-2000:]
    assert f"is being trained by process {first.pid}; waiting" in second.stderr
    assert "reusing finished run" in second.stderr and out.strip() == second.stdout.strip()


def test_a_cut_metrics_or_model_file_is_rebuilt_never_reused(run_csv, tmp_path, capsys):
    from fer_utils import config, errors, runs, train

    settings = config.resolve("quick", max_train_rows=0, epochs=1, batch_size=32, time_budget=0.0, tta="none")
    dataset = data.load(run_csv, progress=False)
    run = train.train(settings, dataset=dataset, runs_dir=tmp_path / "runs", progress=False)
    for name in ("metrics.json", "model.keras"):
        whole = (run.directory / name).read_bytes()
        (run.directory / name).write_bytes(whole[: len(whole) // 2])
        assert not run.finished
        with pytest.raises(errors.InputError, match="not a finished run"):
            runs.load_run(run.directory)
        again = train.train(settings, dataset=dataset, runs_dir=tmp_path / "runs", progress=False)
        assert "rebuilding the run" in capsys.readouterr().err and again.directory == run.directory
        assert again.finished and again.metrics["epochs_run"] == 1


def test_a_crafted_model_file_is_an_input_error(tmp_path):
    import zipfile

    from fer_utils import errors, runs

    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "metrics.json").write_text("{}")
    (directory / "config.json").write_text("{}")
    with zipfile.ZipFile(directory / "model.keras", "w") as archive:
        archive.writestr("config.json", '{"class_name": 5}')
        archive.writestr("metadata.json", "{}")
    with pytest.raises(errors.InputError, match="not a model this workbook can load"):
        runs.load_run(directory).load_model()


def test_ctrl_c_in_train_is_one_line_and_exit_130(monkeypatch, capsys):
    from fer_utils import errors, train

    def interrupted(*args, **kwargs):
        raise errors.Interrupted("interrupted after epoch 3 of at most 40; run the same command to resume (runs/x)")

    monkeypatch.setattr(train, "train", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "train", "--param", "epochs=40"])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.strip() == ("fer-workbook train: error: interrupted after epoch 3 of at most 40; "
                                               "run the same command to resume (runs/x)")


def test_a_report_that_fails_half_way_keeps_the_previous_report(tmp_path, monkeypatch):
    """A real file-size limit (as on a full disk) cuts the HTML write; a failed print keeps the old PDF."""
    import nbformat

    from fer_utils import report

    executed = tmp_path / "executed"
    executed.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q1 · Title\n\n{QUESTIONS[0].zh}\n\n" + "x " * 20000)]
    nbformat.write(notebook, str(executed / "01-q.ipynb"))
    (executed / report.MANIFEST).write_text('{"notebooks": ["01-q.ipynb"]}')  # run writes it last
    (tmp_path / "report.html").write_text("the previous report")
    (tmp_path / "report.pdf").write_bytes(b"%PDF the previous report")
    script = textwrap.dedent(f"""
        import resource, signal
        from fer_utils import report
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write() returns EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            report.render({str(executed)!r}, {str(tmp_path)!r}, pdf=False)
        except OSError as error:
            print("failed", error.errno)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            cwd=paths.PROJECT_ROOT)
    assert result.stdout.strip() == f"failed {errno.EFBIG}", result.stderr[-2000:]
    assert (tmp_path / "report.html").read_text() == "the previous report"

    def failed_print(*args, **kwargs):
        raise report.WorkbookError("Chromium could not print")

    monkeypatch.setattr(report, "html_to_pdf", failed_print)
    with pytest.raises(report.WorkbookError):
        report.render(executed, tmp_path)
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF the previous report"
    assert listing(tmp_path) == [".executed.lock", "executed", "report.html", "report.pdf"]  # no temporary left


def test_a_run_being_trained_is_listed_as_such_and_never_pruned(tmp_path):
    import multiprocessing

    from fer_utils import runs

    directory = tmp_path / "runs" / "vgg-quick-0123456789ab"  # no identity yet, as in a run's first seconds
    started, release = multiprocessing.Event(), multiprocessing.Event()

    def hold():
        with runs.lock(directory):
            started.set()
            release.wait(60)

    holder = multiprocessing.get_context("fork").Process(target=hold)
    holder.start()
    try:
        assert started.wait(60)
        (row,) = runs.list_runs(tmp_path / "runs")
        assert row["state"] == f"training (process {holder.pid})"
        assert runs.prune(tmp_path / "runs") == [] and directory.exists()
    finally:
        release.set()
        holder.join(60)
    assert runs.holder(directory) == ""  # released with its process
    assert [row["run"] for row in runs.prune(tmp_path / "runs")] == [directory.name]
