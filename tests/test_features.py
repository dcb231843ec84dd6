"""Tests for fer_utils.features: batched filter and class ascent, activation maps, top-activating images."""

import keras
import numpy as np
import pytest

from fer_utils import features, modelcache, models, narrative, saliency


@pytest.fixture(scope="module")
def vgg_small():
    """A random-weights vgg_small whose BatchNorm statistics are set from smooth random images.

    Calibrated statistics put every layer in the regime of a trained network (standardised
    pre-activations, about half the ReLUs on) without training anything.
    """
    keras.utils.set_random_seed(0)
    # vgg_small's layers with the spatial dropout it had when these thresholds were set: dropout layers
    # draw seeds when built, so dropping them would change every later layer's random weights
    model = models.vgg(widths=(16, 32, 64), dropout_rate=0.2, dense_units=0, name="vgg_small")
    coarse = np.random.default_rng(0).uniform(0, 255, (64, 6, 6))
    images = np.kron(coarse, np.ones((8, 8)))[..., None].astype(np.float32)  # (64, 48, 48, 1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            inputs = keras.Model(model.input, layer.input)(images, training=False).numpy()
            axes = tuple(range(inputs.ndim - 1))
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([gamma, beta, inputs.mean(axes), inputs.var(axes)])
    return model


@pytest.fixture(scope="module")
def brightness():
    """conv1_1 with 1x1 filters: filter 0 = +brightness, filter 1 = -brightness (in [0, 1])."""
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(2, 1, name="conv1_1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    logits = keras.layers.Dense(7, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Softmax(name="probabilities")(logits), name="brightness")
    model.get_layer("conv1_1").set_weights([np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2), np.zeros(2)])
    return model


def mean_activation(model, layer, images, filters):
    """(N, len(filters)) mean over space of the layer's filters."""
    return features.layer_model(model, layer)(images, training=False).numpy().mean(axis=(1, 2))[:, filters]


def test_ascent_lifts_filters_far_above_grey_and_noise(vgg_small):
    filters = [0, 3, 6]
    images, activations = features.filter_images(vgg_small, "conv2_2", filters, steps=48, learning_rate=0.1,
                                                 progress=False)
    assert images.shape == (3, 48, 48) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255
    reached = np.diagonal(mean_activation(vgg_small, "conv2_2", images[..., None], filters))  # image b, filter b
    np.testing.assert_allclose(activations, reached, rtol=1e-4, atol=1e-5)
    grey = mean_activation(vgg_small, "conv2_2", np.full((1, 48, 48, 1), 127.5, np.float32), filters)[0]
    noise = mean_activation(vgg_small, "conv2_2", np.random.default_rng(1).uniform(0, 255, (16, 48, 48, 1)),
                            filters)  # (16, 3)
    # grey: at least 3x its activation (sign-safe); uniform noise: far outside what any noise image reaches
    assert np.all(activations - grey >= 3 * np.abs(grey))
    assert np.all(activations > noise.max(axis=0) + 10 * noise.std(axis=0))


def test_filter_images_are_deterministic_and_independent_of_batching(vgg_small):
    options = dict(layer="conv1_2", filters=[1, 2, 5], steps=12, seed=4, progress=False)
    first = features.filter_images(vgg_small, **options)
    again = features.filter_images(vgg_small, **options)
    one_by_one = features.filter_images(vgg_small, batch_size=1, **options)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    np.testing.assert_allclose(first[0], one_by_one[0], atol=0.5)  # pixels; batched kernels round differently
    np.testing.assert_allclose(first[1], one_by_one[1], rtol=1e-3, atol=1e-5)
    other = features.filter_images(vgg_small, **{**options, "seed": 5})
    assert not np.allclose(first[0], other[0])


def test_fourier_parameterisation_and_regularisers_run(vgg_small):
    images, activations = features.filter_images(vgg_small, "conv1_2", [0, 1], steps=8, fourier=True,
                                                 total_variation=0.5, progress=False)
    assert images.shape == (2, 48, 48) and np.isfinite(activations).all()
    blurred, _ = features.filter_images(vgg_small, "conv1_2", [0, 1], steps=8, blur_every=4, progress=False)
    plain, _ = features.filter_images(vgg_small, "conv1_2", [0, 1], steps=8, progress=False)
    assert not np.allclose(blurred, plain)


def test_progress_bar_goes_to_stderr_unless_silenced(vgg_small, capsys):
    features.filter_images(vgg_small, "conv1_1", [0], steps=2, progress=False)
    assert capsys.readouterr().err == ""
    features.filter_images(vgg_small, "conv1_1", [0], steps=2, progress=True)
    assert "conv1_1 x 1" in capsys.readouterr().err


def test_class_model_raises_the_class_score(vgg_small):
    classes = [3, 0]
    images = features.class_model(vgg_small, classes, steps=32, learning_rate=0.1, progress=False)
    assert images.shape == (2, 48, 48)
    reached = saliency.scores(vgg_small, images)[[0, 1], classes]
    grey = saliency.scores(vgg_small, np.full((1, 48, 48), 127.5))[0, classes]
    assert np.all(reached > grey + 1.0)
    assert features.class_model(vgg_small, 5, steps=2, progress=False).shape == (1, 48, 48)
    with pytest.raises(ValueError, match="0..6"):
        features.class_model(vgg_small, 7, steps=2, progress=False)


def test_sub_models_and_graphs_live_in_the_shared_model_cache(vgg_small):
    sub_model = features.layer_model(vgg_small, "conv2_1")
    assert features.layer_model(vgg_small, "conv2_1") is sub_model
    assert modelcache.cached(vgg_small, ("layer", "conv2_1"), pytest.fail) is sub_model  # found, not built
    features.filter_images(vgg_small, "conv2_1", [0], steps=1, progress=False)
    parameters, optimizer, step, final = modelcache.cached(vgg_small, ("filters", "conv2_1", False, (1, 48, 48, 1)),
                                                         pytest.fail)  # one filter's pixels: (1, 48, 48, 1)
    assert isinstance(optimizer, keras.optimizers.Adam) and int(optimizer.iterations) == 1  # the one step
    assert parameters.shape == (1, 48, 48, 1) and callable(step) and callable(final)


def test_filter_outputs_shape(vgg_small):
    face = np.random.default_rng(2).integers(0, 256, (48, 48))
    assert features.filter_outputs(vgg_small, "conv2_1", face).shape == (24, 24, 32)
    outputs = features.filter_outputs(vgg_small, "relu1_1", face[..., None])
    assert outputs.shape == (48, 48, 16) and outputs.dtype == np.float32 and outputs.min() >= 0


def test_top_activating_finds_the_brightest_and_darkest_images(brightness):
    levels = np.array([10, 200, 50, 250, 100, 0])
    images = np.broadcast_to(levels[:, None, None, None], (6, 48, 48, 1))
    labels = np.array([0, 1, 2, 3, 4, 5])
    top = features.top_activating(brightness, "conv1_1", images, labels=labels, k=2)
    np.testing.assert_array_equal(top.indices, [[3, 1], [5, 0]])
    np.testing.assert_allclose(top.activations, [[250 / 255, 200 / 255], [0, -10 / 255]], rtol=1e-4)
    np.testing.assert_array_equal(top.class_counts, [[0, 1, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 1, 0]])
    np.testing.assert_array_equal(top.dominant_class, [1, 0])  # ties go to the lower class
    unlabeled = features.top_activating(brightness, "conv1_1", images, k=1, batch_size=4)
    np.testing.assert_array_equal(unlabeled.indices, [[3], [5]])
    assert unlabeled.class_counts is None and unlabeled.dominant_class is None


@pytest.mark.parametrize("call, message", [
    (lambda m: features.filter_images(m, "conv9_9", steps=1, progress=False), "'conv9_9'.*conv1_1.*conv3_2"),
    (lambda m: features.filter_images(m, "gap", steps=1, progress=False), "'gap'.*not \\(N, H, W, C\\)"),
    (lambda m: features.filter_images(m, "conv1_2", [16], steps=1, progress=False), "conv1_2.*0..15"),
    (lambda m: features.filter_outputs(m, "logits", np.zeros((48, 48))), "'logits'"),
    (lambda m: features.top_activating(m, "conv1_1", np.zeros((3, 48, 48, 1)), k=4), "k=4"),
])
def test_errors_name_the_layer_and_filters(vgg_small, call, message):
    with pytest.raises(ValueError, match=message):
        call(vgg_small)


def test_default_layers_and_their_errors(vgg_small):
    assert features.default_layers(vgg_small) == ("conv1_2", "conv3_2")
    assert features.default_layers(vgg_small, "conv2_1", "") == ("conv2_1", "conv3_2")
    with pytest.raises(ValueError, match="conv1_1, conv1_2"):
        features.default_layers(vgg_small, "relu1_1")


def test_class_shares_selectivity_and_description():
    counts = np.array([[9, 0, 0, 0, 0, 0, 0], [3, 0, 3, 3, 0, 0, 0], [0, 0, 0, 6, 0, 0, 3]])
    top = features.TopActivating("conv9_9", np.zeros((3, 9), int), np.zeros((3, 9)), counts, counts.argmax(axis=1))
    shares = features.class_share_table(top)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares.loc[2, "happy"] == pytest.approx(2 / 3)
    np.testing.assert_array_equal(features.most_selective(top, 2), [0, 2])
    summary = features.filter_class_summary(top)
    assert summary["dominant_counts"] == {"angry": 2, "happy": 1} and summary["selective"] == 2
    assert summary["most_selective"] == {"filter": 0, "class": "angry", "share": 1.0}
    text = narrative.filter_classes(summary)
    assert "*angry* 2, *happy* 1" in text and "2 filters have one class in at least half" in text
    assert "the highest one-class share is filter 0 (*angry*)'s, 100%" in text
    with pytest.raises(ValueError, match="labels"):
        features.class_share_table(features.TopActivating("conv", np.zeros((1, 1), int), np.zeros((1, 1))))


def test_ascent_strength_measures_filters_against_real_faces():
    responses = np.array([[0.0, -5.0], [2.0, -3.0], [4.0, -1.0]])  # faces x filters: means 2 and -3, sd 1.633
    strength = features.ascent_strength(np.array([2.0 + 2 * 1.633, -2.0]), responses)
    np.testing.assert_allclose(strength["z"], [2.0, 1 / 1.633], rtol=1e-3)
    assert strength["stronger"] == 1 and strength["filters"] == 2
    with pytest.raises(ValueError, match=r"expected \(faces, 3\)"):
        features.ascent_strength(np.zeros(3), responses)


def test_class_resemblance_finds_each_class_image_in_its_own_mean_face():
    rng = np.random.default_rng(0)
    marks = rng.normal(0, 40, (7, 48, 48))  # what sets each class apart
    labels = np.repeat(np.arange(7), 20)
    faces = 128 + marks[labels] + rng.normal(0, 20, (140, 48, 48))
    resemblance = features.class_resemblance(128 + marks, faces, labels)
    assert resemblance["matches"] == list(narrative.CLASS_ZH) and min(resemblance["own"].values()) > 0.9
    shuffled = features.class_resemblance(128 + marks[::-1], faces, labels)
    assert shuffled["matches"] == ["happy"], "only the middle class (3) keeps its own image when reversed"
    missing = features.class_resemblance(128 + marks, faces[labels != 1], labels[labels != 1])
    assert "disgust" not in missing["own"] and np.isnan(missing["r"][:, 1]).all()


def test_ascent_summary_reads_the_ascent_against_the_faces(vgg_small):
    faces = np.random.default_rng(3).integers(0, 256, (32, 48, 48)).astype(np.float32)
    images, activations = features.filter_images(vgg_small, "conv2_1", [0, 1, 2, 3], steps=24, learning_rate=0.1,
                                                 progress=False)
    summary = features.ascent_summary(vgg_small, "conv2_1", activations, faces, filters=[0, 1, 2, 3], shown=2)
    assert summary["layer"] == "conv2_1" and summary["filters"] == 4 and summary["stronger"] >= 3
    assert summary["median_z"] > features.STRONGER_THAN_FACES and summary["shown"] == list(features.strongest(
        summary["z"], 2))
    assert len(summary["z"]) == 4 and summary["median_z"] == np.median(summary["z"])


def test_strongest_keeps_the_filters_that_reached_the_highest_activation():
    """Q5 shows these 16 filters of a layer instead of all 32 or 64, so that the panel titles stay readable."""
    activations = np.array([0.5, 3.0, -1.0, 3.0, 2.0])
    np.testing.assert_array_equal(features.strongest(activations, 3), [1, 3, 4])  # a tie: the lower filter first
    np.testing.assert_array_equal(features.strongest(activations, 9), [1, 3, 4, 0, 2])  # fewer filters: all
    with pytest.raises(ValueError, match="count=0"):
        features.strongest(activations, 0)
    with pytest.raises(ValueError, match=r"expected \(filters,\)"):
        features.strongest(activations.reshape(5, 1), 2)


def test_most_selective_takes_tied_filters_in_turn_by_class():
    """Issue 22: with many filters tied at 100 %, the ones shown are not all of the first class by number."""
    counts = np.zeros((6, 7), int)
    counts[[0, 1, 2, 4], 3] = 9  # happy at 100 %: filters 0, 1, 2, 4
    counts[3, 5] = 9  # surprise at 100 %: filter 3
    counts[5, [0, 6]] = [6, 3]  # angry at 67 %
    top = features.TopActivating("conv9_9", np.zeros((6, 9), int), np.zeros((6, 9)), counts, counts.argmax(axis=1))
    np.testing.assert_array_equal(features.most_selective(top, 4), [0, 3, 1, 2])
    np.testing.assert_array_equal(features.most_selective(top, 6), [0, 3, 1, 2, 4, 5])
