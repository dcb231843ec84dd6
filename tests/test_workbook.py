"""Tests for fer_utils.workbook: the chapters' runs, the analysed split, and the Q2 comparison."""

import numpy as np
import pytest

from fer_utils import config, models, synth, workbook

TINY_QUICK = {**config.PROFILES["quick"], "max_train_rows": 0, "epochs": 1, "batch_size": 32, "time_budget": 0.0}


@pytest.fixture()
def tiny_workbook(tmp_path, monkeypatch):
    """A 420-face synthetic csv and a quick profile that trains one epoch on it."""
    monkeypatch.setitem(config.PROFILES, "quick", TINY_QUICK)
    return str(synth.write_csv(tmp_path / "fer2013.csv", n=420, seed=4, progress=False))


def test_chapters_share_the_run_and_the_analysed_split(tiny_workbook):
    cnn = workbook.workbook_run("quick", tiny_workbook, progress=False)
    again = workbook.workbook_run("quick", tiny_workbook, progress=False)
    assert again.run.directory == cnn.run.directory and cnn.split == "PrivateTest" and cnn.synthetic
    assert len(cnn.analysed) == len(cnn.dataset.split("PrivateTest"))
    # the chapter's predictions use the run's test-time augmentation, as its stored metrics do
    accuracy = float(np.mean(cnn.predicted == cnn.analysed.y))
    assert accuracy == pytest.approx(cnn.run.metrics["splits"]["PrivateTest"]["accuracy"])
    assert workbook.accuracy_on_analysed(cnn) == (len(cnn.analysed), pytest.approx(accuracy))
    faces = workbook.saliency_faces(cnn)
    assert sorted(cnn.analysed.y[faces]) == sorted(set(cnn.analysed.y))  # one face per class present

    dnn = workbook.workbook_run("quick", tiny_workbook, dnn=True, progress=False)
    assert dnn.run.config["match"] == "vgg_small" and dnn.run.directory != cnn.run.directory
    result = workbook.comparison({"CNN": cnn, "DNN": dnn})
    assert result["split"] == "PrivateTest" and result["tta"] == "flip"
    for label, chapter in (("CNN", cnn), ("DNN", dnn)):
        splits = chapter.run.metrics["splits"]
        values = result["models"][label]
        assert values["accuracy"] == splits["PrivateTest"]["accuracy"]
        assert values["gap"] == pytest.approx(splits["train"]["accuracy"] - splits["PrivateTest"]["accuracy"])
    table = workbook.comparison_table(result)
    assert list(table.columns) == ["CNN", "DNN"] and "PrivateTest accuracy" in table.index
    with pytest.raises(ValueError, match="must share the analysed split"):
        workbook.comparison({"CNN": cnn, "other": workbook.workbook_run("quick", tiny_workbook, split="val",
                                                                        progress=False)})


def test_a_changed_preset_makes_the_workbook_train_a_new_run(tiny_workbook, monkeypatch):
    before = workbook.workbook_run("quick", tiny_workbook, progress=False)
    original = models.PRESETS["vgg_small"]
    monkeypatch.setitem(models.PRESETS, "vgg_small", lambda **kw: original(**{"convs_per_stage": (1, 1, 1), **kw}))
    after = workbook.workbook_run("quick", tiny_workbook, progress=False)
    assert after.run.directory != before.run.directory
    layers = [layer.name for layer in after.run.load_model().layers]
    assert "conv2_2" not in layers and "conv2_2" in [layer.name for layer in before.run.load_model().layers]


def test_validation_stands_in_when_the_data_has_no_labeled_test_split(tmp_path, monkeypatch):
    monkeypatch.setitem(config.PROFILES, "quick", TINY_QUICK)
    rows = synth.write_csv(tmp_path / "fer2013.csv", n=420, seed=5, progress=False)
    import gzip  # ML2017 train.csv form: Training rows only, label,feature

    lines = gzip.open(rows).read().decode().splitlines() if str(rows).endswith(".gz") else rows.read_text().splitlines()
    course = tmp_path / "train.csv"
    course.write_text("label,feature\n" + "".join(f"{line.split(',')[0]},{line.split(',')[1]}\n"
                                                 for line in lines[1:] if line.endswith("Training")))
    chapter = workbook.workbook_run("quick", str(course), progress=False)
    assert chapter.split == "val" and not chapter.synthetic
    assert chapter.run.data_origin["kind"] == "file" and len(chapter.run.data_origin["sha256"]) == 64


def test_glue_records_json_safe_values_for_the_report(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    shown = []
    monkeypatch.setattr(InteractiveShell.instance().display_pub, "publish",
                        lambda data, metadata=None, **kwargs: shown.append(data))
    workbook.glue("cnn", {"accuracy": np.float32(0.5), "counts": np.arange(2), "pair": ("a", "b")})
    assert shown == [{workbook.GLUE_MIME: {"cnn": {"accuracy": 0.5, "counts": [0, 1], "pair": ["a", "b"]}},
                      "text/plain": "glued for the report: cnn"}]


def test_accuracy_and_recall_tables_split_the_wide_summary():
    metrics = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4,
               "per_class": {name: {"recall": 0.1} for name in ("angry", "disgust")}}
    splits = {"val": metrics, "PrivateTest": metrics}
    assert list(workbook.accuracy_table(splits).columns) == ["n", "accuracy", "macro_f1"]
    recall = workbook.recall_table(splits)
    assert list(recall.columns) == ["angry", "disgust"] and list(recall.index) == ["val", "PrivateTest"]


def test_the_dnn_takes_the_profiles_budget_of_its_own(tiny_workbook, monkeypatch):
    monkeypatch.setitem(config.PROFILES, "quick", {**TINY_QUICK, "time_budget": 30.0, "dnn_time_budget": 0.01})
    chapter = workbook.workbook_run("quick", tiny_workbook, dnn=True, progress=False)
    assert chapter.run.config["time_budget"] == 0.01 and chapter.run.config["model"] == "dnn"
    assert chapter.run.metrics["stopped_by"] == "time_budget"
    cnn_settings = config.resolve("quick")
    assert cnn_settings.time_budget == 30.0  # the CNN keeps the profile's budget


@pytest.mark.parametrize("parameters, message", [
    ({"model": "nosuch"}, "model=nosuch: not a CNN preset"),
    ({"profile": "fast"}, "unknown profile 'fast'"),
    ({"seed": -1}, "seed"),
    ({"split": "Testing"}, "split=Testing: choose one of"),
    ({"ig_steps": 0}, "ig_steps=0: must be at least 1"),
])
def test_bad_notebook_parameters_are_refused_before_any_notebook_runs(parameters, message, monkeypatch, capsys):
    """Before issue 20 an unknown model failed inside notebook 1 (exit 1), after overwriting its executed copy."""
    from fer_utils import cli, report

    with pytest.raises(Exception, match=message):
        workbook.check_parameters(parameters)

    def never(*args, **kwargs):
        raise AssertionError("a notebook ran")

    monkeypatch.setattr(report, "run", never)
    pairs = [item for name, value in parameters.items() for item in ("--param", f"{name}={value}")]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "run", *pairs])
    assert exit_info.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_record_names_what_render_compares(tiny_workbook):
    cnn = workbook.workbook_run("quick", tiny_workbook, progress=False)
    record = workbook.record(cnn)
    assert record["data_hash"] == cnn.dataset.content_hash and record["data"] == "fer2013.csv"
    assert (record["cnn"], record["model"], record["run"]) == ("vgg_small", "vgg_small", cnn.run.directory.name)
    dnn = workbook.record(workbook.workbook_run("quick", tiny_workbook, dnn=True, progress=False))
    assert (dnn["cnn"], dnn["model"]) == ("vgg_small", "dnn") and dnn["run"] != record["run"]
