"""Saliency maps on pre-softmax scores (gradients, SmoothGrad, Integrated Gradients, Grad-CAM) and their checks."""

import dataclasses
import functools

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from scipy import stats

from fer_utils import CLASS_NAMES, NUM_CLASSES, modelcache

def score_model(model):
    """The sub-model from the raw-pixel input to the ``logits`` layer (pre-softmax scores), cached.

    Args:
        model: a Keras model; without a layer named ``logits`` its own output is used (for a
            softmax model the "scores" are then probabilities, which saturate: prefer logits).
    Returns:
        A ``keras.Model`` mapping (N, 48, 48, 1) raw pixels to (N, classes) scores.
    """
    def build():
        names = [layer.name for layer in model.layers]
        output = model.get_layer("logits").output if "logits" in names else model.outputs[0]
        return keras.Model(model.input, output, name=f"{model.name}_scores")
    return modelcache.cached(model, "scores", build)


def conv_layers(model):
    """Names of the layers with a 4-D output named ``conv...`` or of type Conv2D, input to output."""
    return [layer.name for layer in model.layers
            if len(getattr(layer, "output", np.empty(0)).shape) == 4
            and (layer.name.startswith("conv") or isinstance(layer, keras.layers.Conv2D))]


def _images(images):
    """(N, H, W, 1) float32 from (N, H, W) or (N, H, W, 1) raw pixels of any numeric dtype."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or not np.issubdtype(images.dtype, np.number):
        raise ValueError(f"images have shape {images.shape} ({images.dtype}); expected numeric (N, 48, 48, 1)")
    return images.astype(np.float32)


def _in_batches(function, batch_size, *arrays):
    """``function`` over slices of ``batch_size`` rows of the arrays, outputs concatenated as numpy."""
    return np.concatenate([np.asarray(function(*(array[start:start + batch_size] for array in arrays)))
                           for start in range(0, len(arrays[0]), batch_size)])


def scores(model, images, batch_size=256):
    """Pre-softmax scores (N, classes) float32 of raw-pixel images, in batches."""
    sub_model = score_model(model)
    return _in_batches(lambda batch: sub_model(batch, training=False), batch_size, _images(images))


def _targets(model, images, target):
    """(N,) int32 target classes: the predicted ones for None, else a validated int or (N,) array."""
    classes = score_model(model).output.shape[-1]
    if target is None:
        return scores(model, images).argmax(axis=1).astype(np.int32)
    array = np.asarray(target)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"target={target!r}: give a class index (int) or an (N,) array of them")
    if array.shape not in ((), (len(images),)):
        raise ValueError(f"target has shape {array.shape}; expected an int or shape ({len(images)},) for "
                         f"{len(images)} images")
    if array.size and (array.min() < 0 or array.max() >= classes):
        raise ValueError(f"target={target!r}: class indices must be in 0..{classes - 1}")
    return np.broadcast_to(array, (len(images),)).astype(np.int32)


def _gradient_function(model):
    """Cached tf.function: (images (B, H, W, 1), targets (B,)) -> d score / d images (B, H, W, 1)."""
    def build():
        sub_model = score_model(model)
        signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32), tf.TensorSpec((None,), tf.int32)]

        @tf.function(input_signature=signature)
        def gradients(images, targets):
            with tf.GradientTape() as tape:
                tape.watch(images)
                target_scores = tf.gather(sub_model(images, training=False), targets, batch_dims=1)  # (B,)
                total = tf.reduce_sum(target_scores)  # images are independent in inference mode
            return tape.gradient(total, images)
        return gradients
    return modelcache.cached(model, "gradients", build)


def _folded_sum(model, images, targets, repeats, make_batch, weights, transform, batch_size):
    """Sum over r of weights[r] * transform(gradient at make_batch(owner, r)) per image.

    The N x repeats inputs are folded into one batch axis (index = image * repeats + r) and run
    through one compiled graph in chunks of ``batch_size``.
    """
    gradients = _gradient_function(model)
    total = np.zeros(images.shape, np.float32)  # (N, H, W, 1)
    for start in range(0, len(images) * repeats, batch_size):
        index = np.arange(start, min(start + batch_size, len(images) * repeats))
        owner, repeat = index // repeats, index % repeats
        batch = tf.constant(make_batch(owner, repeat))  # (B, H, W, 1)
        grads = gradients(batch, tf.constant(targets[owner])).numpy()  # (B, H, W, 1)
        grads = transform(grads) * weights[repeat][:, None, None, None]
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])  # owners are sorted: segment starts
        total[owner[first]] += np.add.reduceat(grads, first, axis=0)
    return total


def vanilla(model, images, target=None, batch_size=256):
    """Absolute gradient of the target's pre-softmax score (Simonyan et al. 2013, https://arxiv.org/abs/1312.6034).

    Args:
        model: a Keras model on raw pixels (scores from its ``logits`` layer, see ``score_model``).
        images: (N, 48, 48, 1) or (N, 48, 48) raw 0-255 pixels, any numeric dtype.
        target: class per image: None (the predicted one), an int or an (N,) int array.
        batch_size: images per call of the compiled gradient graph.
    Returns:
        (N, 48, 48) float32 |d score / d pixel| (max of the absolute value over channels).
    Raises:
        ValueError: bad image shape or target (not an int, wrong shape, outside 0..6).
    """
    images = _images(images)
    targets = _targets(model, images, target)
    total = _folded_sum(model, images, targets, 1, lambda owner, _: images[owner], np.ones(1, np.float32),
                        np.abs, batch_size)
    return total.max(axis=-1)


def smoothgrad(model, images, target=None, samples=50, noise=0.15, seed=0, batch_size=256):
    """Mean absolute gradient over noisy copies (Smilkov et al. 2017, https://arxiv.org/abs/1706.03825).

    Args:
        model, images, target: as for ``vanilla``.
        samples: noisy copies per image.
        noise: noise standard deviation as a share of the pixel range (255); the paper finds 10-20 %.
        seed: seed of the Gaussian noise (drawn in order, so the noise does not depend on batch_size).
        batch_size: noisy images per graph call (N x samples are folded into one batch axis).
    Returns:
        (N, 48, 48) float32 maps.
    Raises:
        ValueError: bad images or target, samples < 1 or noise < 0.
    """
    if samples < 1 or noise < 0:
        raise ValueError(f"samples={samples}, noise={noise}: need samples >= 1 and noise >= 0")
    images = _images(images)
    targets = _targets(model, images, target)
    random = np.random.default_rng(seed)
    sigma = noise * 255.0

    def noisy(owner, _):
        return images[owner] + random.normal(0.0, sigma, images[owner].shape).astype(np.float32)
    weights = np.full(samples, 1.0 / samples, np.float32)
    return _folded_sum(model, images, targets, samples, noisy, weights, np.abs, batch_size).max(axis=-1)


def _baseline(baseline, images):
    """The IG baseline broadcast to (N, H, W, 1): None -> zeros (black), a scalar or an array."""
    array = np.zeros(1, np.float32) if baseline is None else np.asarray(baseline, np.float32)
    if array.ndim in (2, 3) and array.shape[-2:] == images.shape[1:3]:
        array = array[..., None]
    try:
        return np.broadcast_to(array, images.shape)
    except ValueError:
        raise ValueError(f"baseline of shape {array.shape} does not broadcast to images {images.shape}") from None


def integrated_gradients(model, images, target=None, baseline=None, steps=64, batch_size=256):
    """Path integral of gradients from a baseline (Sundararajan et al. 2017, https://arxiv.org/abs/1703.01365).

    The integral uses the midpoint Riemann sum over ``steps`` points of the straight path (it never
    evaluates the gradient exactly at a black baseline, where every ReLU is at its kink); the
    attributions sum to score(x) - score(baseline) up to that approximation (see ``completeness_gap``).

    Args:
        model, images, target: as for ``vanilla``.
        baseline: None (black, zeros), a scalar pixel value or an array broadcastable to the images.
        steps: intervals of the path.
        batch_size: path points per graph call (N x steps are folded into one batch axis).
    Returns:
        (N, 48, 48) float32 signed attributions, summed over channels.
    Raises:
        ValueError: bad images, target or baseline, or steps < 1.
    """
    if steps < 1:
        raise ValueError(f"steps={steps}: need at least 1")
    images = _images(images)
    targets = _targets(model, images, target)
    baselines = _baseline(baseline, images)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)  # (steps,) midpoints
    weights = np.full(steps, 1.0 / steps, np.float32)

    def path(owner, repeat):
        return baselines[owner] + alphas[repeat][:, None, None, None] * (images[owner] - baselines[owner])
    mean_gradients = _folded_sum(model, images, targets, steps, path, weights, lambda g: g, batch_size)
    return ((images - baselines) * mean_gradients).sum(axis=-1)


def _grad_cam_layer(model):
    """The last conv layer, moved forward over the BatchNormalization/activation layers fed by it."""
    names = conv_layers(model)
    if not names:
        raise ValueError(f"model {model.name!r} has no convolutional layer (4-D output): Grad-CAM needs one")
    layer = model.get_layer(names[-1])
    element_wise = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Activation,
                    keras.layers.LeakyReLU)
    for following in model.layers[model.layers.index(layer) + 1:]:
        if not (isinstance(following, element_wise) and following.input is layer.output):
            break
        layer = following
    return layer.name


def grad_cam(model, images, target=None, layer=None, batch_size=256):
    """Gradient-weighted class activation map (Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391).

    Args:
        model, images, target: as for ``vanilla``.
        layer: name of a layer with a 4-D output; None takes the last conv layer's block output,
            i.e. after its BatchNorm and ReLU (``relu3_2`` of vgg_small, ``relu4_2`` of seed2017).
        batch_size: images per graph call.
    Returns:
        (N, 48, 48) float32 non-negative maps: ReLU(sum_k mean_ij(d score/d A_ijk) A_k), upsampled bilinearly.
    Raises:
        ValueError: a model without conv layer (a DNN), a layer that is unknown or not 4-D, bad target.
    """
    images = _images(images)
    targets = _targets(model, images, target)
    name = _grad_cam_layer(model) if layer is None else layer
    if name not in [each.name for each in model.layers] or len(model.get_layer(name).output.shape) != 4:
        raise ValueError(f"layer {name!r} of model {model.name!r} is not a layer with a 4-D output; "
                         f"conv layers: {conv_layers(model)}")

    def build():
        split = keras.Model(model.input, [model.get_layer(name).output, score_model(model).output])
        size = model.input_shape[1:3]  # the graph must not hold the model (the cache's weak key)
        signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32), tf.TensorSpec((None,), tf.int32)]

        @tf.function(input_signature=signature)
        def cam(batch, batch_targets):
            with tf.GradientTape() as tape:
                activations, logits = split(batch, training=False)  # (B, h, w, K), (B, classes)
                total = tf.reduce_sum(tf.gather(logits, batch_targets, batch_dims=1))
            weights = tf.reduce_mean(tape.gradient(total, activations), axis=[1, 2])  # (B, K)
            maps = tf.nn.relu(tf.einsum("bhwk,bk->bhw", activations, weights))[..., None]  # (B, h, w, 1)
            return tf.image.resize(maps, size, "bilinear")[..., 0]  # (B, H, W)
        return cam
    return _in_batches(modelcache.cached(model, ("grad_cam", name), build), batch_size, images, targets)


def methods(smoothgrad_samples=50, ig_steps=64, seed=0):
    """The four saliency methods by name, with their settings bound.

    Args:
        smoothgrad_samples: noisy copies per image for SmoothGrad.
        ig_steps: path intervals for Integrated Gradients.
        seed: seed of SmoothGrad's noise.
    Returns:
        {"vanilla", "smoothgrad", "integrated_gradients", "grad_cam": ``method(model, images, target=None,
        **options) -> (N, 48, 48)``}, in that order; keyword options override the bound settings.
    """
    return {"vanilla": vanilla, "smoothgrad": functools.partial(smoothgrad, samples=smoothgrad_samples, seed=seed),
            "integrated_gradients": functools.partial(integrated_gradients, steps=ig_steps), "grad_cam": grad_cam}


def _spearman_rows(first, second):
    """Spearman rank correlation of each row pair of (N, P) arrays; 1 if both are constant, 0 if one is."""
    ranks = [stats.rankdata(array, axis=1) for array in (first, second)]
    centred = [rank - rank.mean(axis=1, keepdims=True) for rank in ranks]
    norms = [np.sqrt((c ** 2).sum(axis=1)) for c in centred]
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = (centred[0] * centred[1]).sum(axis=1) / (norms[0] * norms[1])
    constant = (norms[0] == 0) | (norms[1] == 0)
    return np.where(constant, np.where((norms[0] == 0) & (norms[1] == 0), 1.0, 0.0), correlation)


def randomization_check(model, images, method, layers=None, seed=0, threshold=0.5, original=None):
    """Cascading model-randomization sanity check (Adebayo et al. 2018, https://arxiv.org/abs/1810.03292).

    A copy of the model has its layers re-initialised one more at a time from the top (logits
    side) down, with their own initializers seeded by ``seed``; after each step the maps for the
    SAME target classes (predicted by the original model) are compared to the original maps.
    A method that explains the model should lose rank correlation; one that does not is flagged.

    Args:
        model: a Keras model (left unchanged).
        images: (N, 48, 48, 1) raw pixels.
        method: a name in ``methods()`` (default settings) or a callable
            ``method(model, images, target=...) -> (N, H, W)``.
        layers: names of the layers to randomise, in order; None takes every layer with a kernel
            (Conv2D, Dense), last first.
        seed: seed of the re-initialisation (step k uses seed + k).
        threshold: the method passes when the last step's mean correlation is below it.
        original: the method's maps of ``images`` on the unchanged model for its predicted classes, when the
            caller has them already (computed here otherwise).
    Returns:
        A DataFrame with one row per step: ``step``, ``layer``, ``spearman`` (mean over images of
        the rank correlation of |original| and |randomised| maps), ``spearman_std`` and ``passes``
        (the verdict of the whole check, repeated on every row).
    Raises:
        ValueError: unknown method or layer name.
    """
    registry = methods()
    method = registry[method] if isinstance(method, str) and method in registry else method
    if not callable(method):
        raise ValueError(f"method={method!r}: give a callable or one of {sorted(registry)}")
    images = _images(images)
    targets = _targets(model, images, None)
    names = [layer.name for layer in model.layers]
    if layers is None:
        layers = [name for name in reversed(names) if hasattr(model.get_layer(name), "kernel")]
    layers = [layers] if isinstance(layers, str) else list(layers)
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise ValueError(f"layers {unknown} are not in model {model.name!r}")
    original = method(model, images, target=targets) if original is None else original
    original = np.abs(np.asarray(original)).reshape(len(images), -1)  # (N, P)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    rows = []
    for step, name in enumerate(layers, start=1):
        layer = clone.get_layer(name)
        for variable in layer.weights:
            initializer = getattr(layer, f"{variable.name}_initializer", None)
            if initializer is None:
                continue
            config = initializer.get_config()
            if "seed" in config:
                initializer = type(initializer).from_config({**config, "seed": seed + step})
            variable.assign(initializer(variable.shape, variable.dtype))
        randomized = np.abs(np.asarray(method(clone, images, target=targets))).reshape(len(images), -1)
        correlation = _spearman_rows(original, randomized)
        rows.append({"step": step, "layer": name, "spearman": float(correlation.mean()),
                     "spearman_std": float(correlation.std())})
    table = pd.DataFrame(rows, columns=["step", "layer", "spearman", "spearman_std"])
    table["passes"] = bool(len(table)) and bool(table["spearman"].iloc[-1] < threshold)
    return table


def deletion_curve(model, images, maps, target=None, steps=20, fill=None, order="saliency", seed=0,
                   batch_size=256):
    """Probability of the target class as the most salient pixels are removed (Petsiuk et al. 2018,
    https://arxiv.org/abs/1806.07421).

    Args:
        model, images, target: as for ``vanilla`` (probabilities are the model's output).
        maps: (N, 48, 48) saliency; pixels are removed from the highest value down (ties: row-major).
        steps: equal increments from no pixel to all pixels removed.
        fill: value of a removed pixel: None (each image's mean), a scalar or an array broadcastable to images.
        order: "saliency" or "random" (a seeded random order per image, the reference curve).
        seed: seed of the random order.
        batch_size: images per forward pass.
    Returns:
        (fractions (steps + 1,) removed share of pixels, probabilities (N, steps + 1)).
    Raises:
        ValueError: maps not matching the images, unknown order, steps < 1.
    """
    images = _images(images)
    targets = _targets(model, images, target)
    maps = np.asarray(maps, np.float32)
    if maps.shape != images.shape[:3]:
        raise ValueError(f"maps have shape {maps.shape}; expected {images.shape[:3]} to match the images")
    if order not in ("saliency", "random") or steps < 1:
        raise ValueError(f"order={order!r}, steps={steps}: order is 'saliency' or 'random', steps >= 1")
    count, pixels = len(images), maps[0].size
    if order == "saliency":
        deletion_order = np.argsort(-maps.reshape(count, pixels), axis=1, kind="stable")  # (N, P)
    else:
        random = np.random.default_rng(seed)
        deletion_order = np.stack([random.permutation(pixels) for _ in range(count)])
    rank = np.empty_like(deletion_order)
    np.put_along_axis(rank, deletion_order, np.arange(pixels)[None], axis=1)  # rank[i, p]: when p goes
    fill = images.mean(axis=(1, 2, 3), keepdims=True) if fill is None else fill
    fill = np.broadcast_to(np.asarray(fill, np.float32), images.shape)
    removed = np.round(np.linspace(0, pixels, steps + 1)).astype(int)  # (steps + 1,)
    probabilities = np.empty((count, steps + 1), np.float32)
    for k, number in enumerate(removed):
        masked = np.where((rank < number).reshape(images.shape), fill, images)  # (N, H, W, 1)
        outputs = _in_batches(lambda batch: model(batch, training=False), batch_size, masked)  # (N, classes)
        probabilities[:, k] = outputs[np.arange(count), targets]
    return removed / pixels, probabilities


def area_under_curve(fractions, probabilities):
    """Mean over images of the trapezoid area under (fractions, probabilities (N, steps + 1))."""
    return float(np.trapezoid(np.asarray(probabilities), np.asarray(fractions), axis=-1).mean())


def completeness_gap(model, images, attributions, target=None, baseline=None):
    """Relative completeness error of attributions (Sundararajan et al. 2017, https://arxiv.org/abs/1703.01365).

    Args:
        model, images, target: as for ``vanilla``.
        attributions: (N, 48, 48) signed attributions, e.g. from ``integrated_gradients``.
        baseline: the baseline they were computed from (as for ``integrated_gradients``).
    Returns:
        (N,) |sum(attributions) - (score(x) - score(baseline))| / |score(x) - score(baseline)|.
    """
    images = _images(images)
    targets = _targets(model, images, target)
    baselines = np.ascontiguousarray(_baseline(baseline, images))
    index = np.arange(len(images))
    difference = scores(model, images)[index, targets] - scores(model, baselines)[index, targets]
    total = np.asarray(attributions, np.float64).reshape(len(images), -1).sum(axis=1)
    return np.abs(total - difference) / np.abs(difference)


def region_share(maps, regions):
    """Share of each map's total absolute saliency inside named rectangles.

    Args:
        maps: (N, H, W) saliency maps.
        regions: {name: (row0, row1, col0, col1)} half-open pixel ranges (as ``faces.regions_for`` gives).
    Returns:
        A DataFrame (N rows x one column per region); NaN for a map that is zero everywhere.
        Overlapping regions count shared pixels in each, so rows sum to at most 1 only for disjoint ones.
    """
    maps = np.abs(np.asarray(maps, np.float64))
    if maps.ndim != 3:
        raise ValueError(f"maps have shape {maps.shape}; expected (N, H, W)")
    totals = maps.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = {name: maps[:, row0:row1, col0:col1].sum(axis=(1, 2)) / totals
                  for name, (row0, row1, col0, col1) in regions.items()}
    return pd.DataFrame(shares, columns=list(regions))


def all_methods(model, images, target=None, smoothgrad_samples=50, ig_steps=64, seed=0):
    """The four maps of ``methods()`` for the same images and targets, as {method name: (N, 48, 48)}.

    Integrated Gradients is signed; the dict holds it as returned (plots take absolute values).
    """
    return {name: method(model, images, target)
            for name, method in methods(smoothgrad_samples, ig_steps, seed).items()}


def class_means(maps, labels):
    """Mean |map| per class after scaling each map to sum 1: (7, H, W), zeros for absent classes.

    Args:
        maps: (N, H, W) saliency maps.
        labels: (N,) class of each map.
    """
    maps = np.abs(np.asarray(maps, dtype=np.float64))
    maps = maps / np.maximum(maps.sum(axis=(1, 2), keepdims=True), 1e-12)
    labels = np.asarray(labels)
    means = np.zeros((NUM_CLASSES,) + maps.shape[1:], np.float32)
    for label in range(NUM_CLASSES):
        if (labels == label).any():
            means[label] = maps[labels == label].mean(axis=0)
    return means


def _upper_and_mouth(maps, regions):
    """(maps normalised to sum 1 each, brows+eyes mask, mouth mask): pixels where brows and eyes overlap count once."""
    maps = np.abs(np.asarray(maps, dtype=np.float64))
    maps = maps / np.maximum(maps.sum(axis=(1, 2), keepdims=True), 1e-12)  # (K, 48, 48), each sums to 1

    def mask(*names):
        selected = np.zeros(maps.shape[1:], bool)
        for name in names:
            row0, row1, col0, col1 = regions[name]
            selected[row0:row1, col0:col1] = True
        return selected

    return maps, mask("brows", "eyes"), mask("mouth")


def region_density(maps, regions):
    """Each map's saliency per pixel on brows + eyes and on the mouth, as a multiple of an even spread: the region's
    share of the saliency over its share of the image (1.0: as much as its area; 2.0: twice).

    Args:
        maps: (K, 48, 48) saliency maps (e.g. ``class_means``); regions: as for ``region_summary``.
    Returns:
        A DataFrame (K rows) with columns "brows + eyes" and "mouth".
    """
    maps, upper, mouth = _upper_and_mouth(maps, regions)
    return pd.DataFrame({"brows + eyes": maps[:, upper].sum(axis=1) / upper.mean(),
                         "mouth": maps[:, mouth].sum(axis=1) / mouth.mean()})


def region_summary(maps, regions):
    """How much saliency falls on the brows and eyes and on the mouth, against their share of the image.

    Args:
        maps: (K, 48, 48) saliency maps (e.g. ``class_means``), rows in class order.
        regions: {name: (row0, row1, col0, col1)} with "brows", "eyes" and "mouth" (e.g. ``faces.regions_for``);
            pixels where brows and eyes overlap count once.
    Returns:
        {"upper_share", "mouth_share": mean share of each map's |saliency| on brows+eyes and on the mouth,
         "upper_area", "mouth_area": their share of the image, "ratio": (upper + mouth share) / (their area),
         "mouth_heavy_classes": class names whose map weighs more on the mouth than on brows and eyes per pixel
         (``region_density``)}.
    """
    maps, upper, mouth = _upper_and_mouth(maps, regions)
    upper_share, mouth_share = maps[:, upper].sum(axis=1), maps[:, mouth].sum(axis=1)  # (K,)
    density = region_density(maps, regions)
    return {"upper_share": float(upper_share.mean()), "mouth_share": float(mouth_share.mean()),
            "upper_area": float(upper.mean()), "mouth_area": float(mouth.mean()),
            "ratio": float((upper_share.mean() + mouth_share.mean()) / (upper.mean() + mouth.mean())),
            "mouth_heavy_classes": [CLASS_NAMES[k] for k in range(len(maps))
                                    if density["mouth"].iloc[k] > density["brows + eyes"].iloc[k]]}


#: A map counts as faithful when its deletion AUC is at least this much below random order's (a difference of
#: a few thousandths is within the noise of a few faces per class).
FAITHFUL_MARGIN = 0.01


def faithful(deletion_auc, random_order_auc):
    """Whether a map's deletion AUC lies at least ``FAITHFUL_MARGIN`` below random order's."""
    return bool(deletion_auc <= random_order_auc - FAITHFUL_MARGIN)


@dataclasses.dataclass
class SanityChecks:
    """Results of ``sanity_checks``: a summary table and the curves behind it."""

    table: "pd.DataFrame"
    randomization_steps: np.ndarray
    randomization_curves: dict
    deletion_fractions: np.ndarray
    deletion_curves: dict


def sanity_checks(model, images, smoothgrad_samples=50, ig_steps=64, seed=0, threshold=0.5):
    """Randomisation, deletion and completeness checks of the four methods on the same faces.

    Args:
        model: a trained Keras model.
        images: (N, 48, 48, 1) raw faces.
    Returns:
        ``SanityChecks``: ``table`` has one row per method with the last randomisation step's
        Spearman correlation, whether it passes (below ``threshold``), the deletion AUC of the
        map and of random order, and (for IG) the mean completeness gap.
    """
    import pandas as pd

    images = _images(images)
    target = np.argmax(scores(model, images), axis=1)
    rows, randomization, deletion = [], {}, {}
    random_fractions, random_curve = deletion_curve(model, images, np.zeros(images.shape[:3]), target,
                                                    order="random", seed=seed)
    random_area = area_under_curve(random_fractions, random_curve)
    deletion["random order"] = random_curve.mean(axis=0)
    for name, method in methods(smoothgrad_samples, ig_steps, seed).items():
        maps = method(model, images, target=target)
        steps = randomization_check(model, images, method, seed=seed, threshold=threshold, original=maps)
        randomization[name] = np.concatenate([[1.0], steps["spearman"].to_numpy()])
        fractions, curve = deletion_curve(model, images, np.abs(maps), target, seed=seed)
        deletion[name] = curve.mean(axis=0)
        row = {"method": name, "spearman_after_randomisation": float(steps["spearman"].iloc[-1]),
               "passes_randomisation": bool(steps["passes"].iloc[-1]),
               "deletion_auc": area_under_curve(fractions, curve), "random_order_auc": random_area}
        row["faithful"] = faithful(row["deletion_auc"], random_area)
        if name == "integrated_gradients":
            row["completeness_gap"] = float(np.mean(completeness_gap(model, images, maps, target)))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("method")
    return SanityChecks(table, np.arange(len(next(iter(randomization.values())))), randomization,
                        random_fractions, deletion)
