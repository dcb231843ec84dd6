"""Tests for fer_utils.models: the original architecture, presets, the matched DNN, FLOPs."""

import keras
import numpy as np
import pytest

from fer_utils import models


def test_seed2017_has_the_original_parameter_count():
    model = models.build("seed2017")
    assert model.count_params() == 21_100_035
    assert model.get_layer("flatten").output.shape[1:] == (8 * 8 * 256,)
    assert model.get_layer("conv1_1").kernel.shape == (5, 5, 1, 32)
    assert model.get_layer("pool1").strides == (1, 1)


@pytest.mark.parametrize("name", ["seed2017", "vgg", "vgg_fast", "vgg_lean", "vgg_small"])
def test_presets_take_raw_pixels_and_expose_logits(name):
    model = models.build(name)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.layers[1].name == "rescale"
    assert model.get_layer("logits").output.shape[1:] == (7,)
    probabilities = model(np.full((2, 48, 48, 1), 255, np.float32), training=False).numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("target", [21_100_035, 1_242_919, 72_919, 30_000])
@pytest.mark.parametrize("depth", [2, 3])
def test_dnn_matching_is_within_one_percent(target, depth):
    model = models.dnn_matching(target, depth=depth)
    assert abs(model.count_params() - target) / target <= 0.01
    assert model.count_params() == models.dnn_parameter_count(
        [layer.units for layer in model.layers if layer.name.startswith("dense") and layer.name != "dense_out"])
    assert not any("conv" in layer.name for layer in model.layers)


def test_dnn_matching_accepts_a_model_and_refuses_impossible_targets():
    cnn = models.build("vgg_small")
    assert abs(models.dnn_matching(cnn).count_params() - cnn.count_params()) <= 0.01 * cnn.count_params()
    with pytest.raises(ValueError, match="off"):
        models.dnn_matching(3000, depth=1)  # one unit already costs 2,316 parameters


def test_dnn_parameter_count_matches_keras():
    model = models.dnn((5, 4))
    # 2304*5+5 + 4*5 | 5*4+4 + 4*4 | 4*7+7
    assert model.count_params() == models.dnn_parameter_count((5, 4)) == 11525 + 20 + 24 + 16 + 35


def test_flops_per_image_counts_conv_and_dense():
    import keras

    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(7)(x)
    model = keras.Model(inputs, outputs)
    assert models.flops_per_image(model) == 2 * 48 * 48 * 9 * 1 * 2 + 2 * (48 * 48 * 2) * 7


def test_build_rejects_unknown_names_and_options():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        models.build("resnet")
    with pytest.raises(ValueError, match="vgg"):
        models.build("vgg", width=3)
    with pytest.raises(ValueError, match="widths"):
        models.vgg(widths=(8, 8, 8, 8, 8))
    with pytest.raises(ValueError, match="convs_per_stage"):
        models.vgg(widths=(8, 8), convs_per_stage=(1, 2, 2))
    with pytest.raises(ValueError, match="spatial_dropout_rate"):
        models.vgg(spatial_dropout_rate=1.0)


def test_vgg_fast_has_one_conv_at_full_resolution_and_no_dropout():
    model = models.build("vgg_fast")
    convs = [layer for layer in model.layers if layer.name.startswith("conv")]
    assert [layer.name for layer in convs[:3]] == ["conv1_1", "conv2_1", "conv2_2"]
    assert convs[0].output.shape[1:] == (48, 48, 32) and convs[1].output.shape[1:] == (24, 24, 64)
    assert not [layer for layer in model.layers if "drop" in layer.name]
    vgg = models.build("vgg")
    assert models.flops_per_image(model) < 0.85 * models.flops_per_image(vgg)


def test_layer_table_lists_every_layer_with_parameters():
    model = models.build("vgg_small")
    rows = models.layer_table(model)
    assert [row["layer"] for row in rows] == [layer.name for layer in model.layers]
    assert sum(row["parameters"] for row in rows) == model.count_params()
    assert rows[0]["output_shape"] == "48x48x1"


def test_readme_model_table_matches_the_code():
    """The README's parameter and FLOP figures are the ones the code computes."""
    import re

    from fer_utils import paths

    readme = (paths.PROJECT_ROOT / "README.md").read_text()
    for name in ("seed2017", "vgg", "vgg_fast", "vgg_lean", "vgg_small"):
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        parameters, flops = [cell.strip() for cell in row.strip("|").split("|")[2:4]]
        model = models.build(name)
        assert int(parameters.replace(",", "")) == model.count_params(), name
        value, unit = re.fullmatch(r"([\d.]+) ([MG])", flops).groups()
        scale = {"M": 1e6, "G": 1e9}[unit]
        assert round(models.flops_per_image(model) / scale, 2 if unit == "G" else 0) == float(value), name


def _batch_norm_pair(channels=5, seed=0):
    """A Keras BatchNormalization and a FusedBatchNormalization with the same (non-trivial) weights."""
    import keras

    rng = np.random.default_rng(seed)
    reference, fused = keras.layers.BatchNormalization(momentum=0.9), models.FusedBatchNormalization(momentum=0.9)
    for layer in (reference, fused):
        layer.build((None, 12, 12, channels))
    weights = [rng.normal(1.0, 0.3, channels), rng.normal(0.0, 0.3, channels),
               rng.normal(0.5, 0.2, channels), rng.uniform(0.5, 2.0, channels)]  # gamma, beta, mean, variance
    for layer in (reference, fused):
        layer.set_weights([w.astype(np.float32) for w in weights])
    return reference, fused


def test_fused_batch_norm_matches_keras_in_training_and_inference():
    import tensorflow as tf

    reference, fused = _batch_norm_pair()
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, (16, 12, 12, 5)).astype(np.float32))
    results = []
    for layer in (reference, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.sin(y))
        grad_x, grad_gamma, grad_beta = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append((y, grad_x, grad_gamma, grad_beta, layer.moving_mean, layer(x, training=False)))
    for expected, actual in zip(*results):
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-3, atol=1e-3)
    # moving variance: Keras updates with the biased batch variance, the fused kernel with the unbiased one
    variance = np.asarray(x).var(axis=(0, 1, 2))
    start = _batch_norm_pair()[1].moving_variance.numpy()
    n = 16 * 12 * 12
    np.testing.assert_allclose(reference.moving_variance.numpy(), 0.9 * start + 0.1 * variance, rtol=1e-4)
    np.testing.assert_allclose(fused.moving_variance.numpy(), 0.9 * start + 0.1 * variance * n / (n - 1), rtol=1e-4)


def test_fused_batch_norm_runs_the_fused_kernel_and_falls_back_elsewhere():
    import keras
    import tensorflow as tf

    _, fused = _batch_norm_pair()
    for training in (True, False):
        graph = tf.function(lambda x: fused(x, training=training)).get_concrete_function(
            tf.TensorSpec((None, 12, 12, 5), tf.float32)).graph
        assert any(op.type.startswith("FusedBatchNorm") for op in graph.get_operations()), training
    flat = models.FusedBatchNormalization()  # (N, C) input: the parent's path, same numbers
    x = np.random.default_rng(2).normal(size=(8, 5)).astype(np.float32)
    reference = keras.layers.BatchNormalization()
    np.testing.assert_allclose(flat(x, training=True), reference(x, training=True), rtol=1e-5, atol=1e-5)


def test_models_with_fused_batch_norm_save_and_load(tmp_path):
    import keras

    model = models.build("vgg_small")
    assert any(isinstance(layer, models.FusedBatchNormalization) for layer in model.layers)
    x = np.random.default_rng(3).integers(0, 256, (4, 48, 48, 1)).astype(np.float32)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    assert type(loaded.get_layer("bn1_1")) is models.FusedBatchNormalization
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# GPU code paths run on the CPU: the `full` profile trains in mixed precision on a GPU (train._fit), which no
# test machine here has. Narrow widths build each preset's very layers at a fraction of the cost (float16
# convolution gradients are ~40x slower than float32 on a CPU: a real seed2017 step took 42 s).
NARROW = {"seed2017": {"widths": (4, 8, 8, 8), "dense_units": 16}, "vgg": {"widths": (4, 8, 8, 8), "dense_units": 8},
          "vgg_fast": {"widths": (4, 8, 8, 8)}, "vgg_lean": {"widths": (4, 8, 8, 8)}, "vgg_small": {"widths": (4, 8, 8)}, "dnn": {"hidden_units": (16, 8)}}


@pytest.fixture()
def mixed_float16():
    """The mixed-float16 policy of a GPU run for one test; float32 again afterwards, whatever happens."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_narrow_presets_cover_every_preset():
    assert set(NARROW) == set(models.PRESETS) | {"dnn"}


@pytest.mark.parametrize("name", sorted(NARROW))
def test_every_preset_trains_in_mixed_precision(name, mixed_float16, tmp_path):
    """float16 compute with the fused batch norm, float32 logits, probabilities and loss; a few steps train."""
    import keras

    keras.utils.set_random_seed(0)
    model = models.build(name, **NARROW[name])
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.BatchNormalization)):
            assert layer.compute_dtype == "float16" and layer.variable_dtype == "float32", layer.name
    for layer in ("logits", "probabilities"):
        assert model.get_layer(layer).compute_dtype == "float32"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    y = keras.utils.to_categorical(np.arange(8) % 7, 7)
    assert model(x, training=False).dtype == "float32"
    before = [weight.numpy().copy() for weight in model.trainable_weights]
    # dynamic loss scaling skips the first steps while their scaled gradients overflow float16 (3 for seed2017
    # here, its BatchNorm on 7 logits of 8 faces); an applied step changes the loss
    losses = [model.train_on_batch(x, y) for _ in range(6)]
    assert all(np.isfinite(losses)) and len(set(np.round(losses, 4))) > 1, losses
    assert any(not np.array_equal(old, new.numpy()) for old, new in zip(before, model.trainable_weights))
    fused = [layer for layer in model.layers if isinstance(layer, models.FusedBatchNormalization)]
    assert bool(fused) == (name != "dnn")
    for layer in fused:
        assert np.isfinite(layer.moving_mean.numpy()).all() and np.isfinite(layer.moving_variance.numpy()).all()
        assert layer.moving_mean.dtype == "float32"
    # a GPU-trained model saved in mixed precision predicts in a float32 process (evaluated on a CPU)
    model.save(tmp_path / "model.keras")
    keras.mixed_precision.set_global_policy("float32")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    probabilities = loaded.predict(x, verbose=0)
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(probabilities, model.predict(x, verbose=0), atol=1e-3)


def test_fused_batch_norm_takes_float16_into_the_fused_kernel(mixed_float16):
    """Under mixed precision the fused op runs on float16 activations with float32 statistics (cuDNN's
    half-precision path on a GPU), in training and inference, and matches Keras's float32-upcast layer."""
    import tensorflow as tf

    reference, fused = _batch_norm_pair()
    assert fused.compute_dtype == "float16" and fused.moving_mean.dtype == "float32"
    for training in (True, False):
        graph = tf.function(lambda x: fused(x, training=training)).get_concrete_function(
            tf.TensorSpec((None, 12, 12, 5), tf.float16)).graph
        kernels = [op for op in graph.get_operations() if op.type.startswith("FusedBatchNorm")]
        assert kernels and all(op.get_attr("T") == tf.float16 and op.get_attr("U") == tf.float32
                               for op in kernels), training
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, (16, 12, 12, 5)).astype(np.float16))
    results = []
    for layer in (reference, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        assert y.dtype == tf.float16
        results.append((y, tape.gradient(loss, x), layer.moving_mean, layer(x, training=False)))
    for expected, actual in zip(*results):
        np.testing.assert_allclose(np.asarray(actual, np.float32), np.asarray(expected, np.float32), rtol=2e-2, atol=2e-2)


def test_conv_blocks_describe_how_the_convolutions_are_built():
    assert models.conv_blocks(models.build("vgg_small")) == {"convolutions": 5, "normalised": 5, "rescales": True}
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, name="conv1_1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1_1")(x)
    x = keras.layers.ReLU(name="relu1_1")(x)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1_2")(x)  # no batch norm
    plain = keras.Model(inputs, keras.layers.Dense(7)(keras.layers.Flatten()(x)))
    assert models.conv_blocks(plain) == {"convolutions": 2, "normalised": 1, "rescales": False}


def test_in_float32_copies_a_bfloat16_model_with_its_weights_and_name():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = models.build("vgg_small", widths=(4, 8, 8))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.get_layer("conv1_1").compute_dtype == "bfloat16"
    plain = models.in_float32(mixed)
    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}
    assert isinstance(plain.get_layer("bn1_1"), models.FusedBatchNormalization) and plain.name == mixed.name
    assert all(np.array_equal(a, b) for a, b in zip(mixed.get_weights(), plain.get_weights()))
    x = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(plain.predict(x, verbose=0), mixed.predict(x, verbose=0), atol=0.02)
    assert models.in_float32(plain) is plain  # already float32: the same model


def test_under_global_policy_rebuilds_a_float32_network_for_mixed_training_with_a_float32_head():
    written_out = models.build("vgg_small", widths=(4, 8, 8))  # a notebook's network: built in float32
    student = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(name="flat"),
                                keras.layers.Dense(7, activation="softmax", name="out")], name="student")
    assert models.under_global_policy(written_out) is written_out  # float32 policy: nothing to do
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        rebuilt = models.under_global_policy(models.from_architecture(written_out.to_json()))
        plain = models.under_global_policy(student)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    policies = {layer.name: layer.dtype_policy.name for layer in rebuilt.layers}
    assert policies["conv1_1"] == policies["bn1_1"] == policies["dense_out"] == "mixed_bfloat16"
    assert policies["logits"] == policies["probabilities"] == "float32" and rebuilt.name == "vgg_small"
    assert {layer.name: layer.dtype_policy.name for layer in plain.layers} == {"flat": "mixed_bfloat16",
                                                                               "out": "float32"}
