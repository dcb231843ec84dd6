"""Tests for the fer-workbook command line: help everywhere, exit code 2 with one line on bad input."""

import subprocess
import sys

import pytest

from questions import QUESTIONS

from fer_utils import cli, synth


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "fer_utils", *args], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("command", [[], ["synth"], ["data"], ["train"], ["predict"], ["audit"], ["run"], ["render"],
                                     ["runs"], ["faces"]])
def test_every_subcommand_has_help(command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])
    assert exit_info.value.code == 0


def test_train_help_names_every_preset_and_each_profiles_default(capsys):
    from fer_utils import config, models

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert all(name in text for name in models.PRESETS)
    for profile in config.PROFILE_NAMES:
        assert f"{config.resolve(profile).model} for {profile}" in text


def test_data_prints_rows_per_split_and_class(tmp_path, capsys):
    path = synth.write_csv(tmp_path / "fer2013.csv", n=140, seed=1, progress=False)
    assert cli.main(["--quiet", "data", str(path)]) == 0
    out = capsys.readouterr().out
    assert "fer2013 form, 140 rows" in out
    for word in ("Training", "PublicTest", "PrivateTest", "angry", "neutral", "total"):
        assert word in out


def test_synth_writes_the_requested_rows_and_seed(tmp_path, capsys):
    from fer_utils import data

    written = {}
    for name, seed in (("first", 1), ("again", 1), ("other", 2)):
        out = tmp_path / f"{name}.csv"
        assert cli.main(["--quiet", "synth", "--out", str(out), "--rows", "70", "--seed", str(seed)]) == 0
        assert capsys.readouterr().out.strip() == str(out)  # prints the path written
        written[name] = out.read_bytes()
    dataset = data.load(tmp_path / "first.csv", cache=False, progress=False)
    assert dataset.form == "fer2013" and len(dataset) == 70
    assert sorted(set(dataset.y.tolist())) == list(range(7))  # every class, even at 70 rows
    assert dataset.usages == ["Training", "PublicTest", "PrivateTest"]
    assert written["again"] == written["first"]  # the same seed writes the same bytes
    assert written["other"] != written["first"]


@pytest.mark.parametrize("args, message", [
    (["data", "no/such/file.csv"], "no/such/file.csv"),
    (["train", "--param", "epoch=3"], "unknown setting"),
    (["train", "--param", "epochs"], "expected KEY=VALUE"),
    (["train", "--model", "resnet", "--data", "{bad}"], "bad.csv"),
    (["predict", "--run", "no_such_run", "--data", "x.csv", "--out", "o.csv"], "not a finished run"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixel,Usage\n0,1 2,Training\n")
    args = [arg.replace("{bad}", str(bad)) for arg in args]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("fer-workbook")


@pytest.mark.slow
def test_train_then_predict_writes_a_submission(tmp_path):
    """End to end through the console entry point: train prints its run last; predict writes id,label."""
    import os

    env = {**os.environ, "FER_RUNS_DIR": str(tmp_path / "runs"), "FER_CACHE_DIR": str(tmp_path / "cache")}
    data = synth.write_csv(tmp_path / "fer2013.csv", n=300, seed=2, progress=False)
    trained = run_cli("--quiet", "train", "--data", str(data), "--param", "epochs=1", "--param", "max_train_rows=0",
                      env=env)
    assert trained.returncode == 0, trained.stderr[-2000:]
    run_directory = trained.stdout.strip().splitlines()[-1]
    assert "PrivateTest: accuracy" in trained.stdout

    test_csv = tmp_path / "test.csv"
    pixels = " ".join(["128"] * 2304)
    test_csv.write_text("id,feature\n" + "".join(f"{i + 10},{pixels}\n" for i in range(5)))
    out = tmp_path / "submission.csv"
    predicted = run_cli("--quiet", "predict", "--run", run_directory, "--data", str(test_csv), "--out", str(out),
                        "--tta", "ten_crop", env=env)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0] == "id,label" and [line.split(",")[0] for line in lines[1:]] == ["10", "11", "12", "13", "14"]
    assert all(0 <= int(line.split(",")[1]) <= 6 for line in lines[1:])

    labeled = run_cli("--quiet", "predict", "--run", run_directory, "--data", str(data), "--out",
                      str(tmp_path / "all.csv"), env=env)
    assert "PrivateTest: accuracy" in labeled.stdout and "Training: accuracy" in labeled.stdout
    assert "recall: angry" in labeled.stdout and "test-time augmentation: flip" in labeled.stdout  # the run's own


def test_audit_finds_a_duplicate_across_two_files(tmp_path, capsys):
    train_csv = tmp_path / "train.csv"
    rows = [" ".join(str((i * 7 + j) % 256) for j in range(2304)) for i in range(4)]
    train_csv.write_text("label,feature\n" + "".join(f"{i % 7},{row}\n" for i, row in enumerate(rows)))
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("id,feature\n" + f"0,{rows[2]}\n" + "1," + " ".join(["9"] * 2304) + "\n")
    out = tmp_path / "flagged.csv"
    assert cli.main(["--quiet", "audit", str(train_csv), str(test_csv), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 exact duplicate copies" in printed and "1 of them spanning two splits" in printed
    assert "1 blank or near-constant images" in printed
    flagged = out.read_text().splitlines()
    assert flagged[0] == "kind,group,row,usage,label"
    assert "exact,0,2,Training,2" in flagged and "exact,0,4,Test,-1" in flagged and "blank,-1,5,Test,-1" in flagged


def test_only_input_errors_are_one_line_a_bug_keeps_its_traceback(monkeypatch, capsys):
    from fer_utils import data

    def broken(path, **options):
        raise KeyError("an internal bug")

    monkeypatch.setattr(data, "load", broken)
    with pytest.raises(KeyError, match="an internal bug"):  # not swallowed into "exit 2"
        cli.main(["--quiet", "data", "whatever.csv"])

    def full_disk(path, **options):
        raise OSError(28, "No space left on device", "/tmp/x")

    monkeypatch.setattr(data, "load", full_disk)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "data", "whatever.csv"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == "fer-workbook data: error: No space left on device: /tmp/x"

    def interrupted(path, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "load", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "data", "whatever.csv"])
    assert exit_info.value.code == 130 and "run the same command again to resume" in capsys.readouterr().err


def test_run_passes_typed_notebook_parameters_and_an_absolute_data_path(tmp_path, monkeypatch, capsys):
    from fer_utils import report

    calls = []
    monkeypatch.setattr(report, "run", lambda parameters, out_dir=None, progress=True: calls.append(
        (parameters, out_dir)) or [tmp_path / "01-cnn.ipynb"])
    data_file = tmp_path / "train.csv"
    data_file.write_text("label,feature\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--quiet", "run", "--data", "train.csv", "--param", "seed=2", "--param", "ig_steps=8",
                     "--out", str(tmp_path / "executed")]) == 0
    parameters, out_dir = calls[0]
    assert parameters == {"seed": 2, "ig_steps": 8, "profile": "quick", "data_path": str(data_file)}
    assert out_dir == str(tmp_path / "executed")
    for bad, message in ((["--param", "seed=two"], "expected int"), (["--param", "epochs=3"], "no notebook has"),
                         (["--param", "seed"], "expected KEY=VALUE")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--quiet", "run", *bad])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_render_writes_the_html_report_from_executed_notebooks(tmp_path, capsys):
    import nbformat

    from fer_utils import report

    executed = tmp_path / "executed"
    executed.mkdir()
    for number in (1, 2):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        parameters = nbformat.v4.new_code_cell('data_path: str = ""  # data', execution_count=1)
        parameters.metadata["tags"] = ["parameters"]
        notebook.cells = [nbformat.v4.new_markdown_cell(f"# Q{number} · Title\n\n{QUESTIONS[number - 1].zh}"),
                          parameters]
        nbformat.write(notebook, str(executed / f"0{number}-q.ipynb"))
    (executed / report.MANIFEST).write_text('{"notebooks": ["01-q.ipynb", "02-q.ipynb"]}')  # run writes it last
    assert cli.main(["--quiet", "render", "--executed", str(executed), "--out", str(tmp_path), "--no-pdf",
                     "--name", "Lin Mei", "--student-id", "R01"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Lin Mei" in html and "R01" in html and QUESTIONS[1].zh in html and "SYNTHETIC DATA" in html
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "render", "--executed", str(tmp_path / "nothing"), "--no-pdf"])
    assert exit_info.value.code == 1 and "run `fer-workbook run` first" in capsys.readouterr().err


def test_runs_lists_the_runs_and_prunes_stale_ones(tmp_path, capsys):
    stale = tmp_path / "runs" / "vgg-quick-0123456789ab"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text('{"model": "vgg", "profile": "quick"}')
    (stale / "metrics.json").write_text('{"splits": {}}')  # finished before runs stored their identity
    assert cli.main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "vgg-quick-0123456789ab" in out and "stale (made before runs stored their identity)" in out
    assert cli.main(["runs", "--runs-dir", str(tmp_path / "runs"), "--dry-run"]) == 0
    assert "1 stale run(s) would be deleted" in capsys.readouterr().out and stale.exists()
    assert cli.main(["runs", "--runs-dir", str(tmp_path / "runs"), "--prune"]) == 0
    assert "1 stale run(s) deleted" in capsys.readouterr().out and not stale.exists()
    assert cli.main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "no runs in" in capsys.readouterr().out


def test_help_and_render_start_without_importing_tensorflow():
    """`--help`, `render` and the report's glue reading need no TensorFlow (its import alone takes seconds)."""
    code = ("import sys; from fer_utils import cli, report, workbook; cli.build_parser(); "
            "print(sorted(name for name in ('tensorflow', 'keras') if name in sys.modules))")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "[]"


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "seed=-1: must be in [0, 4294967295]"),
    (["--seed", str(2**40)], f"seed={2**40}: must be in [0, 4294967295]"),
    (["--time-budget", "nan"], "time_budget=nan: must be a finite number"),
    (["--time-budget", "inf"], "time_budget=inf: must be a finite number"),
    (["--ensemble", "1000000"], "ensemble=1000000: must be in [1, 50]"),
    (["--param", "learning_rate=nan"], "learning_rate=nan: must be a finite number"),
])
def test_train_refuses_settings_out_of_range_before_making_a_run_directory(args, message, tmp_path, monkeypatch,
                                                                            capsys):
    from fer_utils import paths, train

    def no_training(*args, **kwargs):
        raise AssertionError("training started")  # checked first: the old code wrote identity.json, then got here

    monkeypatch.setattr(train, "_fit", no_training)
    data_file = synth.write_csv(tmp_path / "fer2013.csv", n=140, seed=1, progress=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "train", "--data", str(data_file), "--param", "epochs=1", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fer-workbook train: error: ") and message in err, err
    assert not paths.RUNS_DIR.exists() or not any(paths.RUNS_DIR.iterdir())


def test_ensemble_help_names_its_bound(capsys):
    from fer_utils import config

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert f"at most {config.MAX_ENSEMBLE}" in " ".join(capsys.readouterr().out.split())
