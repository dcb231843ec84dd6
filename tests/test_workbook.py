"""Tests for fer_utils.workbook: the chapters' runs, the analysed split, and the Q2 comparison."""

import numpy as np
import pytest

from fer_utils import CLASS_NAMES, config, models, synth, tables, workbook

TINY_QUICK = {**config.PROFILES["quick"], "max_train_rows": 0, "epochs": 1, "batch_size": 32, "time_budget": 0.0}


@pytest.fixture()
def tiny_workbook(tmp_path, monkeypatch):
    """A 420-face synthetic csv and a quick profile that trains one epoch on it."""
    monkeypatch.setitem(config.PROFILES, "quick", TINY_QUICK)
    return str(synth.write_csv(tmp_path / "fer2013.csv", n=420, seed=4, progress=False))


def _q1(data_path, cnn=None):
    """Q1 as its notebook runs it: the quick profile's CNN (or ``cnn``) built, then trained or reused."""
    return workbook.train_cnn(cnn or models.build("vgg_small"), "quick", data_path, progress=False)


def test_chapters_share_the_run_and_the_analysed_split(tiny_workbook):
    cnn = _q1(tiny_workbook)
    again = workbook.trained_cnn("quick", tiny_workbook, progress=False)  # Q2-Q5 find the CNN Q1 trained
    assert again.run.directory == cnn.run.directory and cnn.split == "PrivateTest" and cnn.synthetic
    assert again.config == cnn.config
    assert len(cnn.analysed) == len(cnn.dataset.split("PrivateTest"))
    counts = workbook.split_counts(cnn)
    assert list(counts.index[:2]) == ["train", "val"] or list(counts.index[:3]) == ["train", "unused", "val"]
    assert counts.loc["all", "total"] == len(cnn.dataset) and counts.loc["val", "total"] == len(cnn.parts["val"])
    assert (counts.drop(index="all").sum() == counts.loc["all"]).all()
    assert tables.counts(counts).loc["validation", "total"] == f"{len(cnn.parts['val']):,}"
    shares = workbook.validation_shares(cnn)
    assert shares["tests"] == ["PublicTest", "PrivateTest"] and shares["val"] == len(cnn.parts["val"])
    assert shares["overall"] == pytest.approx(shares["val"] / shares["training"])
    # the chapter's predictions use the run's test-time augmentation, as its stored metrics do
    accuracy = float(np.mean(cnn.predicted == cnn.analysed.y))
    assert accuracy == pytest.approx(cnn.run.metrics["splits"]["PrivateTest"]["accuracy"])
    assert workbook.accuracy_on_analysed(cnn) == (len(cnn.analysed), pytest.approx(accuracy))
    faces = workbook.saliency_faces(cnn, classes=CLASS_NAMES)
    assert sorted(cnn.analysed.y[faces]) == sorted(set(cnn.analysed.y))  # one face per class present
    four = workbook.saliency_faces(cnn)
    assert {CLASS_NAMES[label] for label in cnn.analysed.y[four]} <= set(workbook.SALIENCY_CLASSES) and len(four)

    dnn = workbook.train_dnn(models.dnn_matching(cnn.run.load_model()), again, progress=False)
    assert dnn.run.config["match"] == "vgg_small" and dnn.run.directory != cnn.run.directory
    result = workbook.comparison({"CNN": cnn, "DNN": dnn})
    assert result["split"] == "PrivateTest" and result["tta"] == "flip"
    paired = result["paired"]  # McNemar on the same faces: the counts come from the two chapters' predictions
    assert paired["n"] == len(cnn.analysed) and paired["first_only"] == int(np.sum(
        (cnn.predicted == cnn.analysed.y) & (dnn.predicted != dnn.analysed.y))) and 0 < paired["p_value"] <= 1
    assert result["models"]["DNN"]["largest_layer"]["name"] == "dense1"
    for label, chapter in (("CNN", cnn), ("DNN", dnn)):
        splits = chapter.run.metrics["splits"]
        values = result["models"][label]
        assert values["accuracy"] == splits["PrivateTest"]["accuracy"]
        assert values["gap"] == pytest.approx(splits["train"]["accuracy"] - splits["PrivateTest"]["accuracy"])
    table = tables.comparison(result)
    assert list(table.columns) == ["CNN", "DNN"] and "PrivateTest accuracy" in table.index
    with pytest.raises(ValueError, match="must share the analysed split"):
        workbook.comparison({"CNN": cnn, "other": workbook.trained_cnn("quick", tiny_workbook, split="val",
                                                                       progress=False)})


def test_the_preset_built_by_the_notebook_is_the_clis_run(tiny_workbook):
    """Q1's written-out network names the same run as `fer-workbook train` with the profile's preset."""
    from fer_utils import train

    chapter = _q1(tiny_workbook)
    assert train.train(config.resolve("quick"), tiny_workbook, progress=False).directory == chapter.run.directory


def test_an_edited_cnn_trains_a_new_run_that_q2_to_q5_then_analyse(tiny_workbook):
    before = _q1(tiny_workbook)
    edited = models.vgg(widths=(8, 16, 32), convs_per_stage=1, dropout_rate=0.0, dense_units=0, name="my_cnn")
    after = _q1(tiny_workbook, edited)
    assert after.run.directory != before.run.directory and after.run.directory.name.startswith("my_cnn-quick-")
    assert after.run.load_model().count_params() == edited.count_params() != before.run.load_model().count_params()
    found = workbook.trained_cnn("quick", tiny_workbook, progress=False)
    assert found.run.directory == after.run.directory and found.config.model == "my_cnn"
    assert workbook.record(found)["cnn"] == "my_cnn"
    assert _q1(tiny_workbook).run.directory == before.run.directory, "the unchanged network is reused"
    assert workbook.trained_cnn("quick", tiny_workbook, progress=False).run.directory == before.run.directory


def test_q2_to_q5_say_what_to_run_when_q1_has_not(tiny_workbook):
    from fer_utils import errors

    with pytest.raises(errors.InputError, match=r"Q1 has not trained a CNN for profile 'quick', data fer2013.csv "
                                                r"and seed 0: run notebooks/01-cnn.ipynb"):
        workbook.trained_cnn("quick", tiny_workbook, progress=False)
    error = errors.InputError("Q1 has not trained a CNN")
    assert error._render_traceback_() == ["InputError: Q1 has not trained a CNN"], "one line in a notebook too"


def test_a_model_name_that_cannot_name_a_folder_is_refused(tiny_workbook):
    from fer_utils import errors

    bad = models.vgg(widths=(8,), convs_per_stage=1, dropout_rate=0.0, dense_units=0, name="my cnn")
    with pytest.raises(errors.InputError, match="model name 'my cnn': use letters, digits and _"):
        _q1(tiny_workbook, bad)


def test_validation_stands_in_when_the_data_has_no_labeled_test_split(tmp_path, monkeypatch):
    monkeypatch.setitem(config.PROFILES, "quick", TINY_QUICK)
    rows = synth.write_csv(tmp_path / "fer2013.csv", n=420, seed=5, progress=False)
    import gzip  # ML2017 train.csv form: Training rows only, label,feature

    lines = gzip.open(rows).read().decode().splitlines() if str(rows).endswith(".gz") else rows.read_text().splitlines()
    course = tmp_path / "train.csv"
    course.write_text("label,feature\n" + "".join(f"{line.split(',')[0]},{line.split(',')[1]}\n"
                                                 for line in lines[1:] if line.endswith("Training")))
    chapter = _q1(str(course))
    assert chapter.split == "val" and not chapter.synthetic
    assert chapter.run.data_origin["kind"] == "file" and len(chapter.run.data_origin["sha256"]) == 64
    shares = workbook.validation_shares(chapter)
    assert shares["tests"] == [] and shares["val"] == len(chapter.parts["val"]) and shares["training"] > shares["val"]
    assert all(0 <= share < 0.3 for share in shares["per_class"].values()), shares


def test_accuracy_and_recall_tables_split_the_wide_summary():
    metrics = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4,
               "per_class": {name: {"recall": 0.1} for name in ("angry", "disgust")}}
    splits = {"val": metrics, "PrivateTest": metrics}
    assert list(workbook.accuracy_table(splits).columns) == ["n", "accuracy", "macro_f1"]
    recall = workbook.recall_table(splits)
    assert list(recall.columns) == ["angry", "disgust"] and list(recall.index) == ["val", "PrivateTest"]


def test_the_dnn_takes_the_profiles_budget_of_its_own(tiny_workbook, monkeypatch):
    monkeypatch.setitem(config.PROFILES, "quick", {**TINY_QUICK, "time_budget": 30.0, "dnn_time_budget": 0.01})
    chapter = workbook.train_dnn(models.dnn_matching(70551), _q1(tiny_workbook), progress=False)
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
    ({"photos": "nosuch.jpg;other.png"}, "photos: nosuch.jpg: no such file or folder"),
    ({"faces_shown": 0}, "faces_shown=0: must be at least 1"),
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
    cnn = _q1(tiny_workbook)
    record = workbook.record(cnn)
    assert record["data_hash"] == cnn.dataset.content_hash and record["data"] == "fer2013.csv"
    assert (record["cnn"], record["model"], record["run"]) == ("vgg_small", "vgg_small", cnn.run.directory.name)
    assert record["train_seconds"] == cnn.run.metrics["train_seconds"] and record["finished"][:2] == "20"
    dnn = workbook.record(workbook.train_dnn(models.dnn_matching(70551), cnn, progress=False))
    assert (dnn["cnn"], dnn["model"]) == ("vgg_small", "dnn") and dnn["run"] != record["run"]
