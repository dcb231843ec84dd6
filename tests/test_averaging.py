"""Tests for fer_utils.averaging: the running mean, recomputed batch-norm statistics, and a run that averages."""

import keras
import numpy as np
import pytest

from fer_utils import averaging, config, data, models, synth, train


def test_the_running_mean_is_the_mean_and_survives_a_save(tmp_path):
    rng = np.random.default_rng(0)
    lists = [[rng.normal(size=(3, 2)), rng.normal(size=4)] for _ in range(5)]
    mean = None
    for count, weights in enumerate(lists):
        mean = averaging.update(mean, count, weights)
    for index in range(2):
        np.testing.assert_allclose(mean[index], np.mean([w[index] for w in lists], axis=0), rtol=1e-12)
    averaging.save(tmp_path / "mean.npz", mean)
    for got, expected in zip(averaging.load(tmp_path / "mean.npz"), mean):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("tail, progress, inside", [(0.25, 0.74, False), (0.25, 0.75, True), (0.25, 1.0, True),
                                                     (0.0, 1.0, False)])
def test_the_tail_is_the_last_share_of_the_decay(tail, progress, inside):
    assert averaging.in_tail(progress, tail) is inside


def test_batch_norm_statistics_become_the_mean_of_the_batch_statistics():
    inputs = keras.Input((4, 4, 2))
    fused_out = models.FusedBatchNormalization(momentum=0.9, name="fused")(inputs)
    dense_out = keras.layers.BatchNormalization(momentum=0.9, name="dense_bn")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, [fused_out, dense_out])
    images = np.random.default_rng(1).normal(3.0, 2.0, size=(60, 4, 4, 2)).astype(np.float32)
    assert averaging.recompute_batch_norm(model, images, batch_size=20, progress=False) == 3
    batches = images.reshape(3, 20, 4, 4, 2)
    fused = model.get_layer("fused")
    np.testing.assert_allclose(fused.moving_mean.numpy(), batches.mean(axis=(1, 2, 3)).mean(axis=0), rtol=1e-5)
    per_batch = batches.reshape(3, -1, 2)
    np.testing.assert_allclose(fused.moving_variance.numpy(), per_batch.var(axis=1, ddof=1).mean(axis=0), rtol=1e-4)
    flat = images.reshape(3, 20, 32)
    dense_bn = model.get_layer("dense_bn")
    np.testing.assert_allclose(dense_bn.moving_mean.numpy(), flat.mean(axis=1).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(dense_bn.moving_variance.numpy(), flat.var(axis=1).mean(axis=0), rtol=1e-4)
    assert fused.momentum == 0.9 and dense_bn.momentum == 0.9  # restored


def test_a_run_keeps_the_average_of_its_tail_only_when_it_validates_as_well(tmp_path):
    csv = synth.write_csv(tmp_path / "fer2013.csv", n=420, seed=3, progress=False)
    dataset = data.load(csv, cache_dir=tmp_path / "cache", progress=False)
    settings = config.resolve("quick", max_train_rows=0, epochs=4, batch_size=32, patience=10, time_budget=0.0,
                              tta="none", average_tail=0.5)
    seen = {}

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen[epoch] = [w.copy() for w in self.model.get_weights()]

    run = train.train(settings, dataset=dataset, runs_dir=tmp_path / "runs", progress=False, extra_callbacks=[Record()])
    average = run.metrics["weight_average"]
    assert average["epochs"] == [3, 4]  # the decay is half done when epoch 2 ends at step 51 of 104
    assert average["used"] == (average["val_accuracy"] >= average["best_epoch_val_accuracy"])
    model = run.load_model()
    if average["used"]:
        expected = [np.mean([seen[e - 1][i] for e in average["epochs"]], axis=0) for i in range(len(seen[0]))]
    else:
        expected = seen[run.metrics["best_epoch"] - 1]
    statistics = {id(v) for layer in averaging.batch_norm_layers(model) for v in (layer.moving_mean,
                                                                                  layer.moving_variance)}
    for variable, value in zip(model.weights, expected):
        if id(variable) not in statistics:  # the moving statistics were recomputed, the rest is the mean
            np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5, atol=1e-6)
    assert average["val_accuracy"] == pytest.approx(run.metrics["splits"]["val"]["accuracy"]) or not average["used"]
