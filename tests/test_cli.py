"""Tests for the fer-workbook command line: help everywhere, exit code 2 with one line on bad input."""

import subprocess
import sys

import pytest

from fer_utils import cli, synth


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "fer_utils", *args], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("command", [[], ["synth"], ["data"], ["train"], ["predict"], ["audit"], ["run"], ["render"]])
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
