"""Tests for fer_utils.train on a few hundred synthetic faces: pipeline, runs, reuse, resume, budget."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from fer_utils import config, data, synth, train

TINY = {"max_train_rows": 0, "epochs": 2, "batch_size": 32, "patience": 5, "time_budget": 0.0}


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    """A 420-face synthetic set in the fer2013.csv form (Training/PublicTest/PrivateTest)."""
    return synth.write_csv(tmp_path_factory.mktemp("tiny") / "fer2013.csv", n=420, seed=3, progress=False)


@pytest.fixture()
def tiny(tiny_csv, tmp_path):
    return data.load(tiny_csv, cache_dir=tmp_path / "cache", progress=False)


def tiny_config(**overrides):
    return config.resolve("quick", **{**TINY, **overrides})


def test_make_dataset_batches_one_hot_labels(tiny):
    part = data.splits(tiny, seed=0)["train"]
    batches = list(train.make_dataset(part, 32, training=True, config=tiny_config()))
    images, labels = batches[0]
    assert images.shape == (32, 48, 48, 1) and labels.shape == (32, 7)
    np.testing.assert_allclose(labels.numpy().sum(axis=1), 1.0)
    assert sum(len(batch[0]) for batch in batches) == len(part)
    assert float(images.numpy().max()) > 1.0  # raw pixels: the model rescales


def test_augmenter_is_seeded_and_changes_images(tiny):
    images = tiny.x[:8].astype(np.float32)
    first = train.augmenter(tiny_config(seed=5))(images, training=True).numpy()
    second = train.augmenter(tiny_config(seed=5))(images, training=True).numpy()
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - images).mean() > 1.0


def test_train_writes_a_run_and_reuses_it(tiny, tmp_path, capsys):
    run = train.train(tiny_config(), dataset=tiny, runs_dir=tmp_path / "runs", progress=False)
    for name in ("model.keras", "history.csv", "history.json", "config.json", "metrics.json"):
        assert (run.directory / name).exists(), name
    assert not (run.directory / "backup").exists()
    metrics = run.metrics
    assert metrics["epochs_run"] == 2 and metrics["stopped_by"] == "epochs"
    assert set(metrics["splits"]) == {"train", "val", "PublicTest", "PrivateTest"}
    assert 0.0 <= metrics["splits"]["PrivateTest"]["accuracy"] <= 1.0
    saved = run.config
    assert saved["data_hash"] == tiny.content_hash and saved["parameters"] == run.load_model().count_params()
    assert list(run.history["epoch"]) == [0, 1]

    again = train.train(tiny_config(), dataset=tiny, runs_dir=tmp_path / "runs", progress=False)
    assert again.directory == run.directory
    assert "reusing finished run" in capsys.readouterr().err
    assert train.run_key(tiny_config(seed=1), tiny) != run.directory.name


def test_training_is_deterministic_under_a_seed(tiny, tmp_path):
    histories = []
    for index in range(2):
        run = train.train(tiny_config(), dataset=tiny, runs_dir=tmp_path / f"runs{index}", progress=False)
        histories.append(run.history)
    np.testing.assert_array_equal(histories[0]["loss"].to_numpy(), histories[1]["loss"].to_numpy())


def test_time_budget_stops_with_the_best_weights(tiny, tmp_path):
    run = train.train(tiny_config(epochs=50, time_budget=1e-4), dataset=tiny, runs_dir=tmp_path / "runs",
                      progress=False)
    assert run.metrics["stopped_by"] == "time_budget"
    assert run.metrics["epochs_run"] == 1
    assert (run.directory / "model.keras").exists()


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_interrupted_training_resumes_where_it_stopped(tiny, tmp_path):
    settings = tiny_config(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train.train(settings, dataset=tiny, runs_dir=tmp_path / "runs", progress=False, callbacks=[_Interrupt()])
    directory = tmp_path / "runs" / train.run_key(settings, tiny)
    assert (directory / "backup").exists() and not (directory / "metrics.json").exists()

    seen = []

    class _Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    run = train.train(settings, dataset=tiny, runs_dir=tmp_path / "runs", progress=False, callbacks=[_Record()])
    assert seen == [2]  # epochs 0 and 1 were restored from the backup
    assert list(run.history["epoch"]) == [0, 1, 2]


def test_dnn_needs_a_cnn_to_match():
    with pytest.raises(ValueError, match="match"):
        train.build_model(config.resolve("quick", model="dnn"))
    model = train.build_model(config.resolve("quick", model="dnn", match="vgg_small"))
    assert model.name == "dnn"


def test_unlabeled_data_cannot_be_trained_on(tmp_path):
    pixels = " ".join(["0"] * 2304)
    path = tmp_path / "test.csv"
    path.write_text("id,feature\n" + "".join(f"{i},{pixels}\n" for i in range(3)))
    with pytest.raises(data.DataError, match="label"):
        train.train(tiny_config(), path, runs_dir=tmp_path / "runs", progress=False)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tiny_csv, tmp_path):
    """The multi-GPU path, exercised on a CPU split into two logical devices."""
    command = [sys.executable, "-m", "fer_utils", "--quiet", "train", "--logical-cpus", "2",
               "--data", str(tiny_csv), "--param", "epochs=1", "--param", "max_train_rows=0",
               "--param", "time_budget=0"]
    env = {**__import__("os").environ, "FER_RUNS_DIR": str(tmp_path / "runs"), "FER_CACHE_DIR": str(tmp_path / "c")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    directory = result.stdout.strip().splitlines()[-1]
    assert json.loads((tmp_path / "runs" / directory.split("/")[-1] / "config.json").read_text())["replicas"] == 2


def test_cosine_schedule_warms_up_then_anneals_by_step_or_by_time():
    schedule = train.WarmupCosine(peak=1.0, total_steps=110, warmup_steps=10, steps_per_epoch=10)
    assert schedule.rate(0) == pytest.approx(0.1) and schedule.rate(9) == pytest.approx(1.0)
    assert schedule.rate(10) == pytest.approx(1.0)
    assert schedule.rate(60) == pytest.approx(0.5)                 # half-way through the decay
    assert schedule.rate(109) < 1e-3
    # a budget that is 90 % used pulls the rate down to the end of the curve whatever the step
    assert schedule.rate(20, time_fraction=0.9) == pytest.approx(0.5 * (1 + np.cos(0.9 * np.pi)))
    assert schedule.rate(20, time_fraction=1.5) == pytest.approx(0.0)


def test_time_budget_anneals_the_learning_rate(tiny, tmp_path):
    rates = []

    class _Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            rates.append(float(self.model.optimizer.learning_rate.numpy()))

    settings = tiny_config(epochs=200, time_budget=0.1, warmup_epochs=0.0)  # 6 s: a few epochs of 200
    run = train.train(settings, dataset=tiny, runs_dir=tmp_path / "runs", progress=False, callbacks=[_Record()])
    assert run.metrics["stopped_by"] == "time_budget" and run.metrics["epochs_run"] < 200
    assert rates[0] == pytest.approx(settings.learning_rate, rel=0.05)
    assert rates[-1] < 0.1 * settings.learning_rate             # annealed by the budget, not by epoch 200


def test_ensemble_averages_members_that_share_one_split(tiny, tmp_path):
    settings = tiny_config(epochs=1, ensemble=2, tta="flip")
    run = train.train(settings, dataset=tiny, runs_dir=tmp_path / "runs", progress=False)
    members = run.members
    assert [member.config["seed"] for member in members] == [0, 1]
    assert members[0].config["rows"] == members[1].config["rows"]
    assert run.directory.name.startswith("ensemble2-")
    x = tiny.x[:10]
    expected = np.mean([member.predict_probabilities(x, tta="none") for member in members], axis=0)
    np.testing.assert_allclose(run.predict_probabilities(x, tta="none"), expected, atol=1e-5)
    assert run.tta == "flip" and run.metrics["tta"] == "flip"
    assert set(run.metrics["splits"]) == {"train", "val", "PublicTest", "PrivateTest"}
    assert len(run.history) == 1
    assert train.load_run(run.directory).members[1].directory == members[1].directory


def test_describe_config_names_the_profile_recipe():
    text = train.describe_config(config.resolve("cpu"))
    assert "Profile `cpu`" in text and "batch 128" in text and "60-minute budget" in text
    assert "random erasing of 25% of the faces" in text and "ten crops" in text
    assert "mirrored face" in train.describe_config(config.resolve("quick"))
