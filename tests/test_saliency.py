"""Tests for fer_utils.saliency on hand-checkable models: a linear scorer, a tiny CNN, a DNN."""

import keras
import numpy as np
import pandas as pd
import pytest

from fer_utils import models, narrative, saliency, tables


@pytest.fixture(scope="module")
def linear():
    """Input -> Rescaling(1/255) -> Flatten -> Dense 7 "logits" (known W, b) -> softmax: score = x W / 255 + b."""
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Flatten()(x)
    logits = keras.layers.Dense(7, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Softmax(name="probabilities")(logits), name="linear")
    random = np.random.default_rng(0)
    weights = random.normal(0, 1, (48 * 48, 7)).astype(np.float32)  # (2304, 7)
    model.get_layer("logits").set_weights([weights, random.normal(0, 1, 7).astype(np.float32)])
    return model, weights


@pytest.fixture(scope="module")
def tiny_cnn():
    """Rescaling -> conv1_1 (4 filters) -> ReLU -> global average pool -> Dense 7 "logits" -> softmax."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1_1")(x)
    x = keras.layers.ReLU(name="relu1_1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    logits = keras.layers.Dense(7, name="logits")(x)
    return keras.Model(inputs, keras.layers.Softmax(name="probabilities")(logits), name="tiny_cnn")


@pytest.fixture(scope="module")
def vgg_small():
    keras.utils.set_random_seed(0)
    return models.build("vgg_small")


@pytest.fixture(scope="module")
def faces():
    """Four smooth random 'faces' (N, 48, 48, 1) in 0-255, uint8 like the data set."""
    random = np.random.default_rng(1)
    coarse = random.uniform(0, 255, (4, 6, 6))
    return np.kron(coarse, np.ones((8, 8)))[..., None].astype(np.uint8)


def test_vanilla_gradient_of_a_linear_model_is_its_weights(linear, faces):
    model, weights = linear
    maps = saliency.vanilla(model, faces, target=3)
    assert maps.shape == (4, 48, 48) and maps.dtype == np.float32
    expected = np.abs(weights[:, 3]).reshape(48, 48) / 255  # d(x W / 255)/dx
    np.testing.assert_allclose(maps, np.broadcast_to(expected, maps.shape), rtol=1e-5)


def test_integrated_gradients_of_a_linear_model_are_input_times_weights(linear, faces):
    model, weights = linear
    targets = np.array([0, 1, 5, 6])
    attributions = saliency.integrated_gradients(model, faces, target=targets, steps=4)
    expected = faces[..., 0] * weights[:, targets].T.reshape(4, 48, 48) / 255
    np.testing.assert_allclose(attributions, expected, rtol=1e-4, atol=1e-6)
    gap = saliency.completeness_gap(model, faces, attributions, target=targets)
    np.testing.assert_allclose(gap, 0, atol=1e-4)


def test_default_target_is_the_predicted_class(linear, faces):
    model, weights = linear
    predicted = model.predict(faces.astype(np.float32), verbose=0).argmax(axis=1)
    expected = np.abs(weights[:, predicted].T).reshape(4, 48, 48) / 255
    np.testing.assert_allclose(saliency.vanilla(model, faces), expected, rtol=1e-5)


def test_integrated_gradients_are_complete_on_vgg_small(vgg_small, faces):
    attributions = saliency.integrated_gradients(vgg_small, faces, steps=32)
    assert attributions.shape == (4, 48, 48)
    assert np.all(saliency.completeness_gap(vgg_small, faces, attributions) < 0.05)
    grey = saliency.integrated_gradients(vgg_small, faces, baseline=127.5, steps=32)
    assert np.all(saliency.completeness_gap(vgg_small, faces, grey, baseline=127.5) < 0.05)


def test_smoothgrad_is_deterministic_under_a_seed(tiny_cnn, faces):
    first = saliency.smoothgrad(tiny_cnn, faces, samples=8, seed=3, batch_size=10)
    again = saliency.smoothgrad(tiny_cnn, faces, samples=8, seed=3, batch_size=10)
    other = saliency.smoothgrad(tiny_cnn, faces, samples=8, seed=4, batch_size=10)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (4, 48, 48) and np.all(first >= 0) and not np.allclose(first, other)


def test_smoothgrad_does_not_depend_on_the_batch_size(tiny_cnn, faces):
    whole = saliency.smoothgrad(tiny_cnn, faces, samples=6, batch_size=24)
    np.testing.assert_allclose(saliency.smoothgrad(tiny_cnn, faces, samples=6, batch_size=5), whole, rtol=1e-4)


def test_smoothgrad_without_noise_is_the_vanilla_gradient(tiny_cnn, faces):
    smooth = saliency.smoothgrad(tiny_cnn, faces, target=2, samples=3, noise=0.0)
    np.testing.assert_allclose(smooth, saliency.vanilla(tiny_cnn, faces, target=2), rtol=1e-5, atol=1e-12)


def test_grad_cam_is_non_negative_at_full_resolution(tiny_cnn, vgg_small, faces):
    maps = saliency.grad_cam(tiny_cnn, faces, target=1)
    assert maps.shape == (4, 48, 48) and maps.dtype == np.float32 and np.all(maps >= 0)
    assert saliency._grad_cam_layer(tiny_cnn) == "relu1_1"  # the conv block's post-activation output
    assert saliency._grad_cam_layer(vgg_small) == "relu3_2"
    assert saliency.grad_cam(vgg_small, faces, layer="conv2_1").shape == (4, 48, 48)


def test_grad_cam_refuses_a_dnn_and_bad_layers(tiny_cnn, faces):
    with pytest.raises(ValueError, match="'dnn'.*no convolutional layer"):
        saliency.grad_cam(models.dnn((8,)), faces)
    with pytest.raises(ValueError, match="'logits'.*conv layers: \\['conv1_1'\\]"):
        saliency.grad_cam(tiny_cnn, faces, layer="logits")


@pytest.mark.parametrize("target, message", [
    (7, "0..6"), (-1, "0..6"), (np.array([0, 1]), "shape \\(2,\\)"), (2.0, "class index"), (True, "class index"),
])
def test_target_is_validated(linear, faces, target, message):
    with pytest.raises(ValueError, match=message):
        saliency.vanilla(linear[0], faces, target=target)


def test_randomization_check_passes_gradients_and_flags_a_model_blind_method(tiny_cnn, faces):
    table = saliency.randomization_check(tiny_cnn, faces, "vanilla")
    assert list(table["layer"]) == ["logits", "conv1_1"]
    assert table["spearman"].iloc[-1] < 0.5 and table["passes"].all()
    given = saliency.randomization_check(tiny_cnn, faces, "vanilla", original=saliency.vanilla(tiny_cnn, faces))
    np.testing.assert_allclose(given["spearman"], table["spearman"], rtol=1e-6)  # maps the caller has are reused
    blind = saliency.randomization_check(tiny_cnn, faces, lambda model, images, target=None: images[..., 0])
    np.testing.assert_allclose(blind["spearman"], 1.0)
    assert not blind["passes"].any()
    weights = tiny_cnn.get_weights()
    assert list(saliency.randomization_check(tiny_cnn, faces, "grad_cam", layers="conv1_1")["layer"]) == ["conv1_1"]
    assert all(np.array_equal(a, b) for a, b in zip(weights, tiny_cnn.get_weights()))  # original untouched
    with pytest.raises(ValueError, match="conv9_9"):
        saliency.randomization_check(tiny_cnn, faces, "vanilla", layers=["conv9_9"])
    with pytest.raises(ValueError, match="method='occlusion'"):
        saliency.randomization_check(tiny_cnn, faces, "occlusion")


def test_spearman_rows_by_hand():
    first = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 0, 0]], float)
    second = np.array([[10, 20, 30, 40], [4, 3, 2, 1], [5, 5, 5, 5], [1, 2, 3, 4]], float)
    np.testing.assert_allclose(saliency._spearman_rows(first, second), [1, -1, 1, 0])


def test_deletion_curve_favours_true_attributions(linear, faces):
    model, weights = linear
    random = np.random.default_rng(2)
    images = random.uniform(0, 255, (6, 48, 48, 1)).astype(np.float32)
    targets = np.arange(6)
    true = images[..., 0] * weights[:, targets].T.reshape(6, 48, 48)  # x W: each pixel's share of the score
    fractions, salient = saliency.deletion_curve(model, images, true, target=targets, steps=10, fill=0)
    _, shuffled = saliency.deletion_curve(model, images, true, target=targets, steps=10, fill=0, order="random")
    np.testing.assert_allclose(fractions, np.linspace(0, 1, 11), atol=1 / 2304)  # whole pixels
    assert salient.shape == (6, 11)
    np.testing.assert_allclose(salient[:, 0], shuffled[:, 0])  # nothing removed yet
    np.testing.assert_allclose(salient[:, -1], shuffled[:, -1], rtol=1e-5)  # everything removed
    assert saliency.area_under_curve(fractions, salient) < saliency.area_under_curve(fractions, shuffled) / 3


def test_area_under_curve_by_hand():
    assert saliency.area_under_curve([0, 0.5, 1], [[1, 1, 1], [1, 0, 0]]) == pytest.approx((1 + 0.25) / 2)


def test_region_share_on_a_toy_map():
    maps = np.zeros((2, 5, 5))
    maps[0, 0, 0], maps[0, 4, 4], maps[0, 2, 2] = 2, 1, 1  # total 4
    maps[1, 1:3, 1:3] = -1  # absolute values count
    regions = {"top_left": (0, 2, 0, 2), "bottom_right": (3, 5, 3, 5), "centre": (2, 3, 2, 3)}
    shares = saliency.region_share(maps, regions)
    assert isinstance(shares, pd.DataFrame) and list(shares.columns) == list(regions)
    np.testing.assert_allclose(shares.to_numpy(), [[0.5, 0.25, 0.25], [0.25, 0, 0.25]])
    assert np.all(shares.sum(axis=1) <= 1)
    assert np.isnan(saliency.region_share(np.zeros((1, 5, 5)), regions).to_numpy()).all()


def test_cached_graphs_do_not_keep_a_model_alive(faces):
    import gc
    import weakref

    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(2, 3, name="conv1_1")(keras.layers.Rescaling(1 / 255)(inputs))
    logits = keras.layers.Dense(7, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    saliency.vanilla(model, faces)
    saliency.grad_cam(model, faces)
    reference = weakref.ref(model)
    del model
    gc.collect()
    assert reference() is None


def test_all_methods_returns_the_four_maps(tiny_cnn, faces):
    maps = saliency.all_methods(tiny_cnn, faces, smoothgrad_samples=4, ig_steps=8)
    assert list(maps) == ["vanilla", "smoothgrad", "integrated_gradients", "grad_cam"]
    assert all(value.shape == (len(faces), 48, 48) for value in maps.values())


def test_methods_bind_their_settings(tiny_cnn, faces):
    registry = saliency.methods(smoothgrad_samples=3, ig_steps=4, seed=2)
    assert list(registry) == ["vanilla", "smoothgrad", "integrated_gradients", "grad_cam"]
    np.testing.assert_array_equal(registry["smoothgrad"](tiny_cnn, faces, target=1),
                                  saliency.smoothgrad(tiny_cnn, faces, 1, samples=3, seed=2))
    np.testing.assert_array_equal(registry["integrated_gradients"](tiny_cnn, faces, target=1),
                                  saliency.integrated_gradients(tiny_cnn, faces, 1, steps=4))
    np.testing.assert_array_equal(registry["smoothgrad"](tiny_cnn, faces, target=1, samples=2),  # options override
                                  saliency.smoothgrad(tiny_cnn, faces, 1, samples=2, seed=2))
    assert not np.array_equal(registry["smoothgrad"](tiny_cnn, faces, target=1),
                              saliency.methods()["smoothgrad"](tiny_cnn, faces, target=1))


def test_class_means_normalise_each_map_then_average_per_class():
    maps = np.zeros((3, 2, 2))
    maps[0, 0, 0] = 2.0  # class 0: all mass top-left
    maps[1, 1, 1] = -5.0  # class 0: all mass bottom-right (absolute value)
    maps[2] = 1.0  # class 3: uniform
    means = saliency.class_means(maps, [0, 0, 3])
    np.testing.assert_allclose(means[0], [[0.5, 0], [0, 0.5]])
    np.testing.assert_allclose(means[3], np.full((2, 2), 0.25))
    assert means[1].sum() == 0


def test_region_summary_counts_overlapping_regions_once():
    regions = {"brows": (0, 2, 0, 48), "eyes": (1, 3, 0, 48), "mouth": (40, 42, 0, 48)}
    maps = np.zeros((7, 48, 48))
    maps[:, 0:3] = 1.0  # all saliency on brows + eyes (rows 0-2)
    summary = saliency.region_summary(maps, regions)
    assert summary["upper_share"] == pytest.approx(1.0) and summary["upper_area"] == pytest.approx(3 / 48)
    text = narrative.region_share(summary)
    assert text.startswith("On average 100% of the saliency falls on the brows and eyes, which cover 6% of the image")
    assert "0% on the mouth" in text and "for every class" in text


def test_a_class_weighs_the_mouth_more_per_pixel_not_in_total():
    """Issue 22: per area, a small mouth with as much saliency as the larger brows + eyes weighs more."""
    regions = {"brows": (0, 2, 0, 48), "eyes": (1, 3, 0, 48), "mouth": (40, 42, 0, 48)}  # 3 rows against 2
    maps = np.zeros((7, 48, 48))
    maps[:, 0:3], maps[:, 40:42] = 1.0, 1.5  # the same total on each: 3 rows x 1.0 and 2 rows x 1.5
    maps[3, 40:42] = 0.5  # happy: less on the mouth per pixel
    summary = saliency.region_summary(maps, regions)
    assert summary["mouth_heavy_classes"] == ["angry", "disgust", "fear", "sad", "surprise", "neutral"]


def test_sanity_checks_table_and_curves(tiny_cnn, faces):
    checks = saliency.sanity_checks(tiny_cnn, faces, smoothgrad_samples=4, ig_steps=8)
    assert list(checks.table.index) == ["vanilla", "smoothgrad", "integrated_gradients", "grad_cam"]
    assert set(checks.deletion_curves) == {"random order", *checks.table.index}
    assert all(len(curve) == len(checks.deletion_fractions) for curve in checks.deletion_curves.values())
    # after the unchanged start, each curve is the randomisation check's own correlations, and a gradient
    # map changes once the layers are re-initialised
    vanilla_steps = saliency.randomization_check(tiny_cnn, faces, "vanilla")
    np.testing.assert_allclose(checks.randomization_curves["vanilla"][1:], vanilla_steps["spearman"], atol=1e-6)
    assert checks.randomization_curves["vanilla"][-1] < 0.9
    assert checks.table["completeness_gap"].notna().sum() == 1
    text = narrative.checks(checks.table)
    assert "Integrated Gradients adds up" in text and "random order gives" in text


def test_region_density_is_the_share_over_the_area_and_the_table_prints_it():
    regions = {"brows": (0, 2, 0, 48), "eyes": (1, 3, 0, 48), "mouth": (40, 42, 0, 48)}
    maps = np.zeros((7, 48, 48))
    maps[:, 0:3], maps[:, 40:42] = 1.0, 1.5  # half the saliency on each: 3 rows against 2
    density = saliency.region_density(maps, regions)
    np.testing.assert_allclose(density["brows + eyes"], 0.5 / (3 / 48))
    np.testing.assert_allclose(density["mouth"], 0.5 / (2 / 48))
    shares = saliency.region_share(maps, regions)
    table = tables.region_shares(shares, density)
    assert list(table.columns[-2:]) == ["brows + eyes per pixel", "mouth per pixel"]
    assert table["mouth per pixel"].iloc[0] == "12.00×" and table["brows + eyes per pixel"].iloc[0] == "8.00×"


def test_a_map_is_faithful_only_from_the_margin_below_random_order(tiny_cnn, faces):
    """A final TA read: 0.222 against random order's 0.224 is no evidence; a map must be FAITHFUL_MARGIN below."""
    assert not saliency.faithful(0.222, 0.224) and not saliency.faithful(0.23, 0.224)
    assert saliency.faithful(0.214, 0.224) and saliency.faithful(0.17, 0.224)
    table = saliency.sanity_checks(tiny_cnn, faces, smoothgrad_samples=2, ig_steps=4).table
    assert list(table["faithful"]) == [saliency.faithful(auc, random) for auc, random
                                       in zip(table["deletion_auc"], table["random_order_auc"])]
