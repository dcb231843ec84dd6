"""Model presets for 48x48 FER: the original report's CNN, a VGG-style default and a matched DNN.

Every model starts from an explicit ``keras.Input((48, 48, 1))`` taking raw 0-255 pixels, rescales
inside the model, ends with a layer named ``logits`` (pre-softmax scores, used by saliency) and a
``probabilities`` softmax. Use ``build(name)`` to get one by name.
"""

import contextlib
import math

import keras
from keras import layers, ops

from fer_utils import IMAGE_SIZE, NUM_CLASSES, NUM_PIXELS

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
# BatchNorm's moving statistics must settle within the few hundred steps of a quick CPU run; with
# Keras's default momentum 0.99 they still carry ~13 % of their initial values after 200 steps, and
# inference (which uses them) falls to chance while training accuracy looks fine.
BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package="fer_utils")
class FusedBatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by TensorFlow's fused kernel on image batches.

    Keras 3 normalises with separate mean, variance and arithmetic ops, each a pass over the
    activations; on 2 CPU cores those passes took a third of a ``vgg_fast`` training step. The fused
    op (oneDNN on CPU, cuDNN on GPU) makes one pass forward and one backward: ``bench/bench.py``
    measured 1.7x the training images/s of ``vgg_fast`` here. Weights, outputs and gradients are the
    parent class's; the moving variance averages the unbiased batch variance (n/(n-1) times the
    biased one Keras averages, n = batch x height x width). Anything else (another backend, a mask, renorm, input that
    is not 4-D channels-last) takes the parent's path. Saved models name this class, so load them
    after importing ``fer_utils.models``.
    """

    def _fusable(self, inputs, mask):
        axis = self.axis if isinstance(self.axis, int) else None
        return (keras.backend.backend() == "tensorflow" and mask is None and not self.renorm
                and len(inputs.shape) == 4 and axis in (-1, 3) and self.scale and self.center)

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # only on the TensorFlow backend

        x = inputs if inputs.dtype in ("float16", "float32") else ops.cast(inputs, "float32")
        gamma, beta = ops.cast(self.gamma, "float32"), ops.cast(self.beta, "float32")
        if training and self.trainable:
            # batch statistics; the returned variance is the unbiased one, as moving averages want
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, is_training=True)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=ops.cast(self.moving_mean, "float32"),
                variance=ops.cast(self.moving_variance, "float32"), epsilon=self.epsilon, is_training=False)
        return ops.cast(outputs, self.compute_dtype)


def _inputs():
    """The shared stem: raw pixels in, [0, 1] floats out (no trainable or stored parameters)."""
    inputs = keras.Input(INPUT_SHAPE, name="pixels")  # (N, 48, 48, 1) raw 0-255
    scaled = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    return inputs, scaled


def _head(x, batch_norm):
    """Dense 7 -> (BatchNorm) -> logits -> softmax probabilities (float32 under mixed precision)."""
    x = layers.Dense(NUM_CLASSES, name="dense_out", use_bias=True)(x)
    if batch_norm:
        x = layers.BatchNormalization(name="bn_out")(x)
    logits = layers.Activation("linear", name="logits", dtype="float32")(x)
    probabilities = layers.Activation("softmax", name="probabilities", dtype="float32")(logits)
    return probabilities


def seed2017(widths=(32, 64, 128, 256), dense_units=1024):
    """The original 2017 course report's CNN, layer for layer: 21,100,035 parameters.

    Four stages of two 5x5 'valid' convolutions (32, 64, 128, 256 filters), each followed by a 3x3
    max-pool of stride 1, then Dense 1024, 1024, 7; BatchNorm + ReLU after every conv and dense
    layer (BatchNorm on the last one too), softmax last.

    Args:
        widths: filters of the four stages (the original's by default; narrower ones build the same
            layers at a fraction of the cost, as the mixed-precision tests do).
        dense_units: width of the two hidden dense layers (the original's 1024 by default).
    Returns:
        A ``keras.Model`` named ``seed2017``.
    Raises:
        ValueError: not four stage widths.
    """
    if len(widths) != 4:
        raise ValueError(f"widths={widths!r}: seed2017 has four stages")
    inputs, x = _inputs()
    for stage, filters in enumerate(widths, start=1):
        for index in (1, 2):
            x = layers.Conv2D(filters, 5, padding="valid", name=f"conv{stage}_{index}")(x)
            x = FusedBatchNormalization(name=f"bn{stage}_{index}")(x)
            x = layers.ReLU(name=f"relu{stage}_{index}")(x)
        x = layers.MaxPooling2D(3, strides=1, name=f"pool{stage}")(x)
    # side 48 -> 44, 40 -> 38 -> 34, 30 -> 28 -> 24, 20 -> 18 -> 14, 10 -> 8: flatten is 8*8*256 = 16384
    x = layers.Flatten(name="flatten")(x)
    for index in (1, 2):
        x = layers.Dense(dense_units, name=f"dense{index}")(x)
        x = layers.BatchNormalization(name=f"bn_dense{index}")(x)
        x = layers.ReLU(name=f"relu_dense{index}")(x)
    return keras.Model(inputs, _head(x, batch_norm=True), name="seed2017")


def vgg(widths=(32, 64, 128, 256), dropout_rate=0.3, dense_units=256, convs_per_stage=2, spatial_dropout_rate=None,
        name="vgg"):
    """The default CNN: VGG-style stages of two 3x3 conv + BN + ReLU, max-pool, spatial dropout.

    Global average pooling replaces the huge flatten-dense of ``seed2017``, which keeps the
    parameter count ~20x lower while working at full resolution early (Simonyan & Zisserman 2014,
    https://arxiv.org/abs/1409.1556; Khaireddin & Chen 2021, https://arxiv.org/abs/2105.03588).

    Args:
        widths: filters per stage; each stage halves the resolution (48 -> 24 -> 12 -> 6 -> 3).
        dropout_rate: dropout before the dense layers.
        spatial_dropout_rate: channel dropout after each stage (None: half of ``dropout_rate``; 0: none).
        dense_units: width of the hidden dense layer after pooling (0 for none).
        convs_per_stage: 3x3 convolutions per stage, one number or one per stage (fewer at the
            expensive 48x48 stage moves compute to low resolution, where it is cheaper per channel).
        name: the model's name.
    Returns:
        A ``keras.Model``.
    Raises:
        ValueError: empty ``widths`` or more than 4 stages (48 px would fall below 3 px).
    """
    if not 1 <= len(widths) <= 4:
        raise ValueError(f"widths={widths!r}: give 1 to 4 stage widths (48 px halves per stage)")
    spatial_dropout_rate = dropout_rate / 2 if spatial_dropout_rate is None else spatial_dropout_rate
    for label, rate in (("dropout_rate", dropout_rate), ("spatial_dropout_rate", spatial_dropout_rate)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{label}={rate!r}: must be in [0, 1)")
    convs = (convs_per_stage,) * len(widths) if isinstance(convs_per_stage, int) else tuple(convs_per_stage)
    if len(convs) != len(widths) or min(convs) < 1:
        raise ValueError(f"convs_per_stage={convs_per_stage!r}: give one count >= 1, or one per stage")
    inputs, x = _inputs()
    for stage, (filters, count) in enumerate(zip(widths, convs), start=1):
        for index in range(1, count + 1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{stage}_{index}")(x)
            x = FusedBatchNormalization(momentum=BN_MOMENTUM, name=f"bn{stage}_{index}")(x)
            x = layers.ReLU(name=f"relu{stage}_{index}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
        if spatial_dropout_rate:
            x = layers.SpatialDropout2D(spatial_dropout_rate, name=f"drop{stage}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)  # (N, widths[-1])
    if dense_units:
        if dropout_rate:
            x = layers.Dropout(dropout_rate, name="drop_dense")(x)
        x = layers.Dense(dense_units, use_bias=False, name="dense1")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="bn_dense1")(x)
        x = layers.ReLU(name="relu_dense1")(x)
    if dropout_rate:
        x = layers.Dropout(dropout_rate, name="drop_out")(x)
    return keras.Model(inputs, _head(x, batch_norm=False), name=name)


def dnn(hidden_units, dropout_rate=0.3):
    """A fully connected network: flatten, then per width Dense + BN + ReLU + dropout, then Dense 7.

    Args:
        hidden_units: widths of the hidden layers, e.g. ``(512, 512, 480)``.
        dropout_rate: dropout after each hidden layer.
    Returns:
        A ``keras.Model`` named ``dnn``.
    Raises:
        ValueError: no hidden layer or a width below 1.
    """
    hidden_units = tuple(int(units) for units in hidden_units)
    if not hidden_units or min(hidden_units) < 1:
        raise ValueError(f"hidden_units={hidden_units}: give at least one width, each >= 1")
    inputs, x = _inputs()
    x = layers.Flatten(name="flatten")(x)  # (N, 2304)
    for index, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, name=f"dense{index}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn_dense{index}")(x)
        x = layers.ReLU(name=f"relu_dense{index}")(x)
        if dropout_rate:
            x = layers.Dropout(dropout_rate, name=f"drop{index}")(x)
    return keras.Model(inputs, _head(x, batch_norm=False), name="dnn")


def dnn_parameter_count(hidden_units):
    """Parameters of ``dnn(hidden_units)`` in closed form: Dense weights + bias, BatchNorm 4 per unit."""
    total, previous = 0, NUM_PIXELS
    for units in hidden_units:
        total += previous * units + units + 4 * units
        previous = units
    return total + previous * NUM_CLASSES + NUM_CLASSES


def matching_widths(model_or_count, depth=3, tolerance=0.01):
    """Hidden widths of a ``dnn`` whose parameter count is within ``tolerance`` of a given CNN's.

    With all ``depth`` hidden layers of width h the count is quadratic in h:
    (depth-1) h^2 + (2304 + 7 + 5 depth + (depth-1)) h + 7. We take the floor of its positive root
    for the first ``depth-1`` layers, then solve the (linear) count for the last hidden width,
    which brings the match to within a few dozen parameters.

    Args:
        model_or_count: a Keras model (its ``count_params()``) or a parameter count.
        depth: hidden layers of the DNN.
        tolerance: allowed relative difference of parameter counts.
    Returns:
        The widths, a tuple of ``depth`` ints (e.g. ``(29, 29, 63)`` for 70,551 parameters).
    Raises:
        ValueError: the target is too small for one hidden unit, or no width lands within tolerance.
    """
    target = model_or_count if isinstance(model_or_count, int) else model_or_count.count_params()
    if depth < 1:
        raise ValueError(f"depth={depth}: must be >= 1")
    a = depth - 1
    b = NUM_PIXELS + NUM_CLASSES + 5 * depth + (depth - 1)
    c = NUM_CLASSES - target
    root = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    width = max(1, math.floor(root))
    leading = (width,) * (depth - 1)
    # count = count(leading + (0,)) + last * (previous + 5 + 7), linear in the last width
    previous = leading[-1] if leading else NUM_PIXELS
    fixed = dnn_parameter_count(leading + (0,))
    last = max(1, round((target - fixed) / (previous + 5 + NUM_CLASSES)))
    hidden_units = leading + (last,)
    error = abs(dnn_parameter_count(hidden_units) - target) / target
    if error > tolerance:
        raise ValueError(
            f"closest DNN {hidden_units} is {error:.1%} off {target} parameters; try another depth"
        )
    return hidden_units


def dnn_matching(model_or_count, depth=3, dropout_rate=0.3, tolerance=0.01):
    """A ``dnn`` whose parameter count is within ``tolerance`` of a given CNN's (widths from ``matching_widths``).

    Returns:
        A ``keras.Model`` named ``dnn``.
    Raises:
        ValueError: the target is too small for one hidden unit, or no width lands within tolerance.
    """
    hidden_units = matching_widths(model_or_count, depth, tolerance)
    model = dnn(hidden_units, dropout_rate=dropout_rate)
    assert model.count_params() == dnn_parameter_count(hidden_units)
    return model


def flops_per_image(model):
    """Multiply-accumulates x 2 of the conv and dense layers for one image (a forward pass).

    BatchNorm, activations and pooling are left out (they are < 1 % here).

    Args:
        model: a built Keras model.
    Returns:
        FLOPs as an int.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
            _, height, width, _ = layer.output.shape
            total += 2 * height * width * kernel_h * kernel_w * channels_in * channels_out
        elif isinstance(layer, layers.Dense):
            units_in, units_out = layer.kernel.shape
            total += 2 * units_in * units_out
    return int(total)


#: The VGG-style presets as options of ``vgg`` (Q1's notebook writes the same network out and builds it with these).
VGG_PRESETS = {
    "vgg": {},
    # the cpu profile's model: one conv at 48x48 instead of two (the 48x48x32 convolutions are memory-bound on
    # CPU; `make bench` prints the images/s of each preset) and no dropout: random erasing regularises instead
    "vgg_fast": {"convs_per_stage": (1, 2, 2, 2), "dropout_rate": 0.0, "name": "vgg_fast"},
    # vgg_fast at 3/4 width (24-48-96-192): 1.78x its training images/s here (bench/widths.py), so more epochs
    # fit into a time budget; a candidate for the cpu profile (docs/measurements.md has what it reached)
    "vgg_lean": {"widths": (24, 48, 96, 192), "convs_per_stage": (1, 2, 2, 2), "dropout_rate": 0.0,
                 "name": "vgg_lean"},
    # the quick profile's model: small widths, one conv at 48x48 as in vgg_fast, no dense layer and no dropout,
    # so the quick profile's budget trains several epochs on 2 CPU cores
    "vgg_small": {"widths": (16, 32, 64), "convs_per_stage": (1, 2, 2), "dropout_rate": 0.0, "dense_units": 0,
                  "name": "vgg_small"},
}

#: Presets by name: ``build(name, **overrides)`` calls these.
PRESETS = {"seed2017": seed2017,
           **{name: (lambda options: lambda **kw: vgg(**{**options, **kw}))(options)
              for name, options in VGG_PRESETS.items()}}


def vgg_options(name):
    """Every option of ``vgg`` for the VGG-style preset ``name``: its own and ``vgg``'s defaults.

    Returns:
        {"widths", "convs_per_stage" (one count per stage), "dense_units", "dropout_rate", "name"}.
    Raises:
        ValueError: ``name`` is not a VGG-style preset.
    """
    import inspect

    if name not in VGG_PRESETS:
        raise ValueError(f"{name!r} is not a VGG-style preset; choose one of {', '.join(VGG_PRESETS)}")
    defaults = {key: parameter.default for key, parameter in inspect.signature(vgg).parameters.items()}
    options = {**defaults, **VGG_PRESETS[name]}
    convs = options["convs_per_stage"]
    convs = (convs,) * len(options["widths"]) if isinstance(convs, int) else tuple(convs)
    return {"widths": tuple(options["widths"]), "convs_per_stage": convs, "dense_units": options["dense_units"],
            "dropout_rate": options["dropout_rate"], "name": options["name"]}


def conv_blocks(model):
    """How the model's convolutions are built, for the sentence that describes them.

    Returns:
        {"convolutions": Conv2D layers, "normalised": those followed directly by batch normalisation and then a
         ReLU, "rescales": whether the model rescales raw pixels inside (a ``Rescaling`` layer)}.
    """
    stack = model.layers
    convolutions = [index for index, layer in enumerate(stack) if isinstance(layer, layers.Conv2D)]

    def is_relu(layer):
        return isinstance(layer, layers.ReLU) or (isinstance(layer, layers.Activation)
                                                  and getattr(layer.activation, "__name__", "") == "relu")

    normalised = sum(1 for index in convolutions if index + 2 < len(stack)
                     and isinstance(stack[index + 1], layers.BatchNormalization) and is_relu(stack[index + 2]))
    return {"convolutions": len(convolutions), "normalised": normalised,
            "rescales": any(isinstance(layer, layers.Rescaling) for layer in stack)}


def architecture(model):
    """A model's architecture as text: its Keras config as sorted JSON (what a run's identity hashes)."""
    import json

    return json.dumps(model.get_config(), sort_keys=True, default=str)


def from_architecture(text):
    """A fresh model (new, seeded weights) from the JSON ``model.to_json()`` wrote.

    Raises:
        fer_utils.errors.InputError: text that is not a model this package can rebuild.
    """
    from fer_utils import errors

    try:
        return keras.models.model_from_json(text)
    except (TypeError, ValueError, KeyError) as error:
        raise errors.InputError(f"not a model architecture this workbook can rebuild ({type(error).__name__}: "
                                f"{str(error)[:200]})") from None


def under_global_policy(model):
    """``model`` computing under Keras's global mixed-precision policy: ``model`` itself when the policy is
    float32, else a copy (fresh weights) whose layers take the policy, except the model's output layers and every
    layer after its last layer with weights (``logits``, the softmax), which stay float32.

    A model rebuilt from its JSON keeps the policy it was built under, so a network a notebook wrote out in
    float32 would otherwise train in float32 whatever ``Config.precision`` or the GPU's mixed float16 say.
    """
    policy = keras.mixed_precision.global_policy().name
    if policy == "float32":
        return model
    weighted = [index for index, layer in enumerate(model.layers) if layer.weights]
    head = model.layers[weighted[-1] + 1:] if weighted else model.layers
    float32 = {layer.name for layer in head} | {tensor._keras_history[0].name for tensor in model.outputs}

    return _recast(model, lambda layer: "float32" if layer.name in float32 else policy)


def in_float32(model):
    """``model`` computing in float32: ``model`` itself when every layer already does, else a copy whose layers'
    dtype policies are float32, with the same weights and name.

    Training under ``mixed_bfloat16`` (``fer_utils.precision``) or a GPU's ``mixed_float16`` only makes training
    faster: the saved model, its evaluation, saliency (Q4) and gradient ascent (Q5) compute in float32, not with
    bfloat16's 8-bit or float16's 11-bit mantissa and float16's narrow range.
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    with float32_policy():
        copy = _recast(model, lambda layer: "float32")
    copy.set_weights(model.get_weights())
    return copy


def _recast(model, dtype_of):
    """A copy of ``model`` (fresh weights) in which each layer computes under the policy ``dtype_of(layer)``."""
    def recast(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype_of(layer)})

    return keras.models.clone_model(model, clone_function=recast)


@contextlib.contextmanager
def float32_policy():
    """Build models in float32 for the block, whatever the global mixed-precision policy (restored after)."""
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)


def build(name, **options):
    """Build a model preset by name.

    Args:
        name: one of ``PRESETS`` ("seed2017", "vgg", "vgg_fast", "vgg_small") or "dnn" (then ``options`` give
            ``match``, a model or parameter count to match, or ``hidden_units``, a tuple of widths).
        **options: keyword arguments of the preset's builder.
    Returns:
        A ``keras.Model``.
    Raises:
        ValueError: unknown name (lists the known ones) or unknown option.
    """
    if name == "dnn":
        if "match" in options:
            return dnn_matching(options.pop("match"), **options)
        return dnn(**options)
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(PRESETS) + ['dnn']}")
    try:
        return PRESETS[name](**options)
    except TypeError as error:
        raise ValueError(f"model {name!r}: {error}") from None


#: Layer types that join the block of the layer with weights before them (a convolution's batch norm and ReLU).
BLOCK_FOLLOWERS = {"BatchNormalization", "FusedBatchNormalization", "ReLU"}


def layer_blocks(rows):
    """``layer_table`` rows with each batch norm or ReLU right after a layer with weights folded into its row,
    as papers draw a block: the first layer's name, the types joined ("Conv2D + FusedBatchNormalization +
    ReLU" as a list in ``types``), the last output shape, the parameters summed.

    Returns:
        A list of dicts with ``layer``, ``types`` (list), ``output_shape``, ``parameters``.
    """
    blocks = []
    for row in rows:
        if blocks and row["type"] in BLOCK_FOLLOWERS and blocks[-1]["own_parameters"]:
            block = blocks[-1]
            block["types"].append(row["type"])
            block["output_shape"], block["parameters"] = row["output_shape"], block["parameters"] + row["parameters"]
            continue
        blocks.append({"layer": row["layer"], "types": [row["type"]], "output_shape": row["output_shape"],
                       "parameters": row["parameters"], "own_parameters": row["parameters"]})
    return [{key: value for key, value in block.items() if key != "own_parameters"} for block in blocks]


def layer_table(model):
    """Rows (layer, type, output shape, parameters) for the report's layer table.

    Args:
        model: a Keras model.
    Returns:
        A list of dicts with keys ``layer``, ``type``, ``output_shape``, ``parameters``.
    """
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:])
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "output_shape": "x".join(str(d) for d in shape),
            "parameters": layer.count_params(),
        })
    return rows
