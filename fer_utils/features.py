"""Feature visualisation: batched gradient ascent on filters and classes, activation maps, top-activating faces."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from fer_utils import CLASS_NAMES, NUM_CLASSES, augment, modelcache, saliency

ADAM_EPSILON = 1e-8  # Kingma & Ba's value (Keras' default is 1e-7); betas are Keras' 0.9 and 0.999
#: Settings that give readable filter images on 48x48 faces (decorrelated spectrum, stronger robustness).
READABLE = {"fourier": True, "jitter": 3.0, "scale": 0.08, "rotation": 8.0}


def layer_model(model, layer):
    """The cached sub-model from the raw-pixel input to a layer with a 4-D output.

    Args:
        model: a Keras model.
        layer: the layer's name, e.g. "conv1_2".
    Returns:
        A ``keras.Model`` mapping (N, 48, 48, 1) raw pixels to (N, H, W, C) activations.
    Raises:
        ValueError: unknown layer or a layer without a 4-D output (the message lists the conv layers).
    """
    names = [each.name for each in model.layers]
    if layer not in names:
        raise ValueError(f"layer {layer!r} is not in model {model.name!r}; its conv layers are "
                         f"{saliency.conv_layers(model)}")
    output = model.get_layer(layer).output
    if len(output.shape) != 4:
        raise ValueError(f"layer {layer!r} of model {model.name!r} has output shape {tuple(output.shape)}, "
                         f"not (N, H, W, C); its conv layers are {saliency.conv_layers(model)}")
    return modelcache.cached(model, ("layer", layer),
                           lambda: keras.Model(model.input, output, name=f"{model.name}_{layer}"))


def _transforms(random, steps, count, size, jitter, scale, rotation):
    """(steps, count, 8) projective transforms (``augment.affine_rows``): random shift, zoom and rotation."""
    shape = (steps, count)
    shift_x, shift_y = random.uniform(-jitter, jitter, (2, *shape))
    zoom = random.uniform(1 - scale, 1 + scale, shape)
    angle = np.deg2rad(random.uniform(-rotation, rotation, shape))
    return augment.affine_rows(angle, zoom, shift_x, shift_y, size, array_module=np).astype(np.float32)


def _fourier_scale(size):
    """(size, size // 2 + 1) spectrum scale 1/frequency, so all frequencies start with equal energy.

    As in Lucid's ``fft_image`` (Olah et al. 2017, https://distill.pub/2017/feature-visualization/).
    """
    frequencies = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.rfftfreq(size)[None, :] ** 2)
    return (size / np.maximum(frequencies, 1.0 / size)).astype(np.float32)


def _ascent_graphs(sub_model, objective, fourier, shape):
    """(parameters, optimizer, step, final) for one sub-model, objective, parameterisation and batch shape.

    ``parameters`` is a ``keras.Variable`` of ``shape`` that ``optimizer`` (``keras.optimizers.Adam``)
    updates; ``step`` (compiled, traced once) is one Adam step, the other hyperparameters passed as
    tensors; ``final`` (eager) renders the parameters and scores the un-transformed images.
    ``_ascend`` caches them per model and resets the variables for each batch.
    """
    size = sub_model.input_shape[1]
    spectrum_scale = tf.constant(_fourier_scale(size), tf.complex64)  # (H, W // 2 + 1)
    blur_kernel = tf.constant(np.outer([1, 2, 1], [1, 2, 1])[:, :, None, None] / 16.0, tf.float32)  # (3, 3, 1, 1)

    def to_image(parameters):
        if fourier:  # (B, H, W // 2 + 1, 2) real and imaginary parts -> (B, H, W, 1)
            spectrum = tf.complex(parameters[..., 0], parameters[..., 1]) * spectrum_scale
            parameters = tf.signal.irfft2d(spectrum, fft_length=[size, size])[..., None] / 4.0
        return 255.0 * tf.sigmoid(parameters)  # (B, H, W, 1) raw pixels; sigmoid(0) is mid-grey

    def penalty(images, total_variation, l2):  # (B,): total variation and L2 of the image in [0, 1]
        unit = images / 255.0
        variation = (tf.reduce_mean(tf.abs(unit[:, 1:] - unit[:, :-1]), axis=[1, 2, 3])
                     + tf.reduce_mean(tf.abs(unit[:, :, 1:] - unit[:, :, :-1]), axis=[1, 2, 3]))
        return total_variation * variation + l2 * tf.reduce_mean((unit - 0.5) ** 2, axis=[1, 2, 3])

    parameters = keras.Variable(np.zeros(shape, np.float32), name="ascent_parameters")
    optimizer = keras.optimizers.Adam(epsilon=ADAM_EPSILON)
    optimizer.build([parameters])
    scalar = tf.TensorSpec((), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec((), tf.int32), tf.TensorSpec((None, 8), tf.float32),
                                  tf.TensorSpec((None,), tf.int32), scalar, scalar, tf.TensorSpec((), tf.int32)])
    def step(iteration, transforms, indices, total_variation, l2, blur_every):
        with tf.GradientTape() as tape:
            images = to_image(parameters.value)  # (B, H, W, 1)
            moved = tf.raw_ops.ImageProjectiveTransformV3(
                images=images, transforms=transforms, output_shape=[size, size], fill_value=0.0,
                interpolation="BILINEAR", fill_mode="REFLECT")  # (B, H, W, 1) shifted, zoomed, rotated
            # images are independent (inference mode), so one loss gives every image its own gradient
            loss = tf.reduce_sum(penalty(images, total_variation, l2)
                                 - objective(sub_model(moved, training=False), indices))
        optimizer.apply_gradients([(tape.gradient(loss, parameters.value), parameters)])
        if not fourier:  # blur the pixels now and then (Yosinski et al. 2015, https://arxiv.org/abs/1506.06579)
            blur_now = (blur_every > 0) & ((iteration + 1) % tf.maximum(blur_every, 1) == 0)
            parameters.assign(tf.cond(blur_now, lambda: tf.nn.conv2d(parameters.value, blur_kernel, 1, "SAME"),
                                      lambda: parameters.value))

    def final(indices):  # eager: called once per chunk
        images = to_image(parameters.value)  # (B, H, W, 1)
        return images[..., 0], objective(sub_model(images, training=False), indices)

    return parameters, optimizer, step, final


def _ascend(model, key, sub_model, objective, indices, *, steps, learning_rate, seed, jitter, scale, rotation,
            total_variation, l2, blur_every, fourier, batch_size, progress, description):
    """Adam ascent of ``objective(outputs, indices) -> (B,)``, one image per index, in chunks of batch_size.

    Returns (images (F, H, W) float32 in [0, 255], objective (F,) on the final un-transformed images).
    Start noise and transformations are drawn per image up front, so batch_size only changes rounding.
    """
    if steps < 1:
        raise ValueError(f"steps={steps}: need at least 1")
    size, count = sub_model.input_shape[1], len(indices)
    random = np.random.default_rng(seed)
    if fourier:  # spectrum (F, H, W // 2 + 1, 2)
        start = random.normal(0.0, 0.01, (count, size, size // 2 + 1, 2)).astype(np.float32)
    else:  # pre-sigmoid pixels (F, H, W, 1): grey plus a little noise
        start = random.normal(0.0, 0.1, (count, size, size, 1)).astype(np.float32)
    transforms = _transforms(random, steps, count, size, jitter, scale, rotation)  # (steps, F, 8)
    settings = [tf.constant(value, tf.float32) for value in (total_variation, l2)]
    settings.append(tf.constant(int(blur_every), tf.int32))
    batch_size = batch_size or count
    chunks = range(0, count, batch_size)
    images, values = [], []
    with tqdm(total=steps * len(chunks), desc=description, disable=not progress, leave=False) as bar:
        for begin in chunks:
            chunk = slice(begin, begin + batch_size)
            chunk_indices = tf.constant(indices[chunk], tf.int32)
            shape = start[chunk].shape
            parameters, optimizer, step, final = modelcache.cached(  # traced once per model, objective and shape
                model, (*key, shape), lambda: _ascent_graphs(sub_model, objective, fourier, shape))
            parameters.assign(start[chunk])
            for variable in optimizer.variables:  # a fresh Adam: no moments, step count 0
                variable.assign(np.zeros(variable.shape, variable.dtype))
            optimizer.learning_rate = learning_rate
            for iteration in range(steps):
                step(tf.constant(iteration, tf.int32), tf.constant(transforms[iteration, chunk]), chunk_indices,
                     *settings)
                bar.update()
            chunk_images, chunk_values = final(chunk_indices)
            images.append(chunk_images.numpy())
            values.append(chunk_values.numpy())
    return np.concatenate(images).astype(np.float32), np.concatenate(values).astype(np.float32)


def _mean_channel(outputs, indices):
    """(B,) mean over space of channel indices[b] of image b, from (B, H, W, C) activations."""
    selector = tf.one_hot(indices, tf.shape(outputs)[-1], dtype=outputs.dtype)[:, None, None, :]  # (B, 1, 1, C)
    return tf.reduce_mean(tf.reduce_sum(outputs * selector, axis=-1), axis=[1, 2])


def _class_score(scores, indices):
    """(B,) score of class indices[b] for image b, from (B, classes) pre-softmax scores."""
    return tf.gather(scores, indices, batch_dims=1)


def filter_images(model, layer, filters=None, steps=128, learning_rate=0.05, seed=0, jitter=2.0, scale=0.05,
                  rotation=5.0, total_variation=0.0, blur_every=0, fourier=False, batch_size=None,
                  progress=True):
    """Images maximising each filter's mean activation by regularised gradient ascent.

    Feature visualisation after Olah et al. 2017, https://distill.pub/2017/feature-visualization/.
    All requested filters are optimised together (image b maximises filter b) by Adam on a
    sigmoid-squashed (or, with ``fourier``, a 1/f-scaled spectral) parameterisation, each step one
    call of a compiled graph. Transformation robustness: every step the images are shifted,
    zoomed and rotated at random before the model sees them.

    Args:
        model: a Keras model on raw pixels.
        layer: name of a layer with a 4-D output (activations are taken as that layer outputs them:
            for ``conv{s}_{i}`` before BatchNorm and ReLU).
        filters: channel indices; None for all.
        steps: Adam steps.
        learning_rate: Adam step size in parameter units.
        seed: seed of the start noise and of the transformations.
        jitter: largest random shift in pixels.
        scale: largest relative random zoom (0.05 is 95-105 %).
        rotation: largest random rotation in degrees.
        total_variation: weight of the total-variation penalty (image in [0, 1]) against the activation.
        blur_every: blur the pixels with a 3x3 binomial kernel every this many steps (0: never;
            pixel parameterisation only).
        fourier: optimise a decorrelated (1/f-scaled) Fourier spectrum, image = irfft2.
        batch_size: filters per batch (None: all at once); results do not depend on it beyond rounding.
        progress: show a tqdm bar on stderr.
    Returns:
        (images (F, 48, 48) float32 in [0, 255], activations (F,) mean activation each filter
        reached on its final un-transformed image).
    Raises:
        ValueError: unknown or non-4-D layer, filters out of range, steps < 1.
    """
    sub_model = layer_model(model, layer)
    channels = sub_model.output.shape[-1]
    filters = np.arange(channels) if filters is None else np.atleast_1d(np.asarray(filters))
    if filters.size == 0 or not np.issubdtype(filters.dtype, np.integer) or filters.min() < 0 \
            or filters.max() >= channels:
        raise ValueError(f"filters={filters.tolist()}: layer {layer!r} has filters 0..{channels - 1}")
    return _ascend(model, ("filters", layer, fourier), sub_model, _mean_channel, filters, steps=steps,
                   learning_rate=learning_rate, seed=seed, jitter=jitter, scale=scale, rotation=rotation,
                   total_variation=total_variation, l2=0.0, blur_every=blur_every, fourier=fourier,
                   batch_size=batch_size, progress=progress, description=f"{layer} x {filters.size}")


def class_model(model, class_index, steps=128, l2=1.0, learning_rate=0.05, seed=0, jitter=0.0,
                progress=True):
    """Images maximising a class's pre-softmax score minus an L2 penalty (Simonyan et al. 2013,
    https://arxiv.org/abs/1312.6034).

    Args:
        model: a Keras model (scores from its ``logits`` layer, see ``saliency.score_model``).
        class_index: an int or a list of class indices (0 angry ... 6 neutral).
        steps: Adam steps.
        l2: weight of the mean squared distance from mid-grey (image in [0, 1]).
        learning_rate: Adam step size.
        seed: seed of the start noise.
        jitter: largest random shift in pixels per step; 0 is the paper's plain method (highest
            score, noisy image), 2 gives more readable images at a lower score.
        progress: show a tqdm bar on stderr.
    Returns:
        (K, 48, 48) float32 images in [0, 255], one per class index (a single int gives K = 1).
    Raises:
        ValueError: class index outside 0..6, steps < 1.
    """
    classes = np.atleast_1d(np.asarray(class_index))
    if classes.size == 0 or not np.issubdtype(classes.dtype, np.integer) or classes.min() < 0 \
            or classes.max() >= NUM_CLASSES:
        raise ValueError(f"class_index={class_index!r}: classes are 0..{NUM_CLASSES - 1}")
    images, _ = _ascend(model, ("classes",), saliency.score_model(model), _class_score, classes, steps=steps,
                        learning_rate=learning_rate, seed=seed, jitter=jitter, scale=0.0, rotation=0.0,
                        total_variation=0.0, l2=l2, blur_every=0, fourier=False, batch_size=None,
                        progress=progress, description="classes")
    return images


def filter_outputs(model, layer, image):
    """The activation maps of a layer for one face.

    Args:
        model: a Keras model on raw pixels.
        layer: name of a layer with a 4-D output.
        image: (48, 48, 1) or (48, 48) raw pixels.
    Returns:
        (H, W, C) float32 activations.
    Raises:
        ValueError: unknown or non-4-D layer, an image of another shape.
    """
    sub_model = layer_model(model, layer)
    image = np.asarray(image, np.float32)
    image = image[..., None] if image.ndim == 2 else image
    if image.shape != tuple(sub_model.input_shape[1:]):
        raise ValueError(f"image has shape {image.shape}; expected {sub_model.input_shape[1:]} or (48, 48)")
    return sub_model(image[None], training=False).numpy()[0].astype(np.float32)


@dataclasses.dataclass
class TopActivating:
    """The images that activate each filter of a layer most (``top_activating``'s result).

    Attributes:
        layer: the layer's name.
        indices: (F, k) image indices, most activating first (ties: lower index first).
        activations: (F, k) their mean activations over space.
        class_counts: (F, 7) label counts among each filter's top k, or None without labels.
        dominant_class: (F,) the most frequent label among them (lowest on ties), or None.
    """

    layer: str
    indices: np.ndarray
    activations: np.ndarray
    class_counts: np.ndarray | None = None
    dominant_class: np.ndarray | None = None


def top_activating(model, layer, images, labels=None, k=9, batch_size=256):
    """For each filter of a layer, the k images with the highest mean activation over space.

    Args:
        model: a Keras model on raw pixels.
        layer: name of a layer with a 4-D output.
        images: (N, 48, 48, 1) or (N, 48, 48) raw pixels.
        labels: optional (N,) class labels 0..6 for the class distribution of each filter's top k.
        k: images per filter (1..N).
        batch_size: images per forward pass.
    Returns:
        A ``TopActivating``.
    Raises:
        ValueError: unknown or non-4-D layer, k outside 1..N, labels not matching the images.
    """
    images = np.asarray(images, np.float32)
    images = images[..., None] if images.ndim == 3 else images
    if not 1 <= k <= len(images):
        raise ValueError(f"k={k}: must be between 1 and the number of images ({len(images)})")
    means = face_responses(model, layer, images, batch_size)  # (N, F)
    indices = np.argsort(-means, axis=0, kind="stable")[:k].T  # (F, k)
    result = TopActivating(layer, indices, np.take_along_axis(means.T, indices, axis=1))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(images),) or labels.min() < 0 or labels.max() >= NUM_CLASSES:
            raise ValueError(f"labels have shape {labels.shape}; expected ({len(images)},) "
                             f"of 0..{NUM_CLASSES - 1}")
        result.class_counts = np.stack([np.bincount(labels[row], minlength=NUM_CLASSES) for row in indices])
        result.dominant_class = result.class_counts.argmax(axis=1)
    return result


def default_layers(model, early="", deep=""):
    """(early, deep) conv layer names: given ones are checked; empty picks the second and the last conv.

    Raises:
        ValueError: a name that is not a conv layer of the model (the message lists them).
    """
    names = [name for name in saliency.conv_layers(model) if name.startswith("conv")]
    if not names:
        raise ValueError(f"model {model.name!r} has no convolution layer to visualise")
    for name in (early, deep):
        if name and name not in names:
            raise ValueError(f"layer {name!r} is not a convolution of {model.name!r}; choose from {', '.join(names)}")
    return early or names[min(1, len(names) - 1)], deep or names[-1]


def class_share_table(top):
    """Filters x classes: the share of each class among each filter's top faces (a pandas DataFrame)."""
    import pandas as pd

    if top.class_counts is None:
        raise ValueError("top_activating was called without labels; pass labels to get class shares")
    counts = np.asarray(top.class_counts, dtype=float)
    return pd.DataFrame(counts / counts.sum(axis=1, keepdims=True), columns=CLASS_NAMES,
                        index=pd.Index(range(len(counts)), name="filter"))


def strongest(activations, count):
    """The ``count`` filters with the highest value, highest first (ties: lower filter first).

    Args:
        activations: (F,) a value per filter: how far its ascent image drives it above real faces
            (``ascent_summary``'s "z") or the raw activation it reached (``filter_images``' second result).
        count: how many to keep, 1 or more; all F when F is smaller.
    Returns:
        (min(count, F),) filter indices.
    Raises:
        ValueError: count below 1, or activations that are not one value per filter.
    """
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim != 1:
        raise ValueError(f"activations have shape {activations.shape}; expected (filters,)")
    if count < 1:
        raise ValueError(f"count={count}: keep at least 1 filter")
    return np.argsort(-activations, kind="stable")[:count]


def most_selective(top, count=4):
    """The ``count`` filters whose top faces are most concentrated on one class.

    Filters tied at the same share are taken in turn by their dominant class (the first filter of each class,
    then the second, ...; lower filter first within a class), so a tie of many filters of one class does not
    crowd out the others.
    """
    shares = class_share_table(top).to_numpy()
    purity, dominant = shares.max(axis=1), shares.argmax(axis=1)
    rank_in_class = np.zeros(len(shares), int)
    for level in np.unique(purity):
        tied = np.flatnonzero(purity == level)
        for label in np.unique(dominant[tied]):
            members = tied[dominant[tied] == label]
            rank_in_class[members] = np.arange(len(members))
    order = np.lexsort((np.arange(len(shares)), rank_in_class, -purity))
    return order[:count]


def filter_class_summary(top):
    """Which classes dominate the filters' top faces, from ``top_activating`` with labels.

    Returns:
        {"layer", "filters" (count), "k" (faces per filter), "dominant_counts": {class: filters it dominates},
         most first, "selective": filters with one class in at least half of their top faces,
         "most_selective": {"filter", "class", "share"} (the first of them), "top_share": the highest share,
         "at_top_share": [{"filter", "class"}] every filter that reaches it, "never_dominant": classes
         dominating no filter}.
    """
    shares = class_share_table(top)
    dominant = shares.idxmax(axis=1)
    purity = shares.max(axis=1)
    tally = dominant.value_counts()
    best = int(purity.idxmax())
    return {"layer": top.layer, "filters": len(shares), "k": int(top.indices.shape[1]),
            "dominant_counts": {name: int(count) for name, count in tally.items()},
            "selective": int((purity >= 0.5).sum()),
            "most_selective": {"filter": best, "class": dominant[best], "share": float(purity[best])},
            "top_share": float(purity[best]),
            "at_top_share": [{"filter": int(index), "class": dominant[index]}  # in most_selective's order
                             for index in most_selective(top, len(shares)) if np.isclose(purity[index], purity[best])],
            "never_dominant": [name for name in CLASS_NAMES if name not in tally.index]}


def face_responses(model, layer, images, batch_size=256):
    """Each filter's mean activation over space on each face: (N, F), activations as ``filter_images`` takes them.

    Args:
        model: a Keras model on raw pixels.
        layer: name of a layer with a 4-D output.
        images: (N, 48, 48[, 1]) raw pixels.
        batch_size: images per forward pass.
    """
    sub_model = layer_model(model, layer)
    images = np.asarray(images, np.float32)
    images = images[..., None] if images.ndim == 3 else images
    return np.concatenate([sub_model(images[start:start + batch_size], training=False).numpy().mean(axis=(1, 2))
                           for start in range(0, len(images), batch_size)])


#: An ascent image counts as a stronger stimulus than real faces when it drives its filter this many standard
#: deviations (of the filter's response to the faces) above the faces' mean response.
STRONGER_THAN_FACES = 2.0


def ascent_strength(activations, responses):
    """How far above real faces each filter's ascent image drives it, in standard deviations of its face responses.

    The raw activation of a filter before batch norm has no meaning of its own (batch norm shifts and scales it,
    so a negative value may still switch the filter on); against the same filter's responses to real faces it does.

    Args:
        activations: (F,) the mean activation each filter reached on its ascent image (``filter_images``).
        responses: (N, F) the same filters' mean activations on N faces (``face_responses``).
    Returns:
        {"z": (F,) array, "median_z", "stronger": filters at or above ``STRONGER_THAN_FACES``, "filters": F}.
    """
    activations, responses = np.asarray(activations, np.float64), np.asarray(responses, np.float64)
    if responses.ndim != 2 or responses.shape[1] != activations.shape[0]:
        raise ValueError(f"responses have shape {responses.shape}; expected (faces, {activations.shape[0]})")
    z = (activations - responses.mean(axis=0)) / np.maximum(responses.std(axis=0), 1e-12)
    return {"z": z, "median_z": float(np.median(z)), "stronger": int(np.sum(z >= STRONGER_THAN_FACES)),
            "filters": int(len(z))}


def class_resemblance(class_images, faces, labels):
    """How much each class image carries its class's difference from the average face (Pearson correlation).

    All mean faces look alike (a face), so what is compared is what sets them apart: each class image minus the
    mean of the class images, against each class's mean face minus the mean of all faces.

    Args:
        class_images: (7, 48, 48[, 1]) images maximising each class (``class_model``), in class order.
        faces: (N, 48, 48[, 1]) faces; labels: (N,) their classes.
    Returns:
        {"r": (7, 7) array, row = class image, column = class (NaN for a class without faces), "own": {class: r
         with its own class}, "matches": classes whose image correlates more with its own class than with any
         other}.
    """
    faces = np.asarray(faces, np.float64)
    faces = faces[..., 0] if faces.ndim == 4 else faces
    labels = np.asarray(labels)
    images = np.asarray(class_images, np.float64).reshape(len(class_images), -1)
    images = images - images.mean(axis=0)
    average = faces.mean(axis=0).ravel()
    r = np.full((len(images), NUM_CLASSES), np.nan)
    for column in range(NUM_CLASSES):
        if np.any(labels == column):
            difference = faces[labels == column].mean(axis=0).ravel() - average
            r[:, column] = [np.corrcoef(image, difference)[0, 1] for image in images]
    own = {CLASS_NAMES[k]: float(r[k, k]) for k in range(len(images)) if not np.isnan(r[k, k])}
    matches = [CLASS_NAMES[k] for k in range(len(images)) if not np.isnan(r[k, k]) and r[k, k] >= np.nanmax(r[k])]
    return {"r": r, "own": own, "matches": matches}


def ascent_summary(model, layer, activations, faces, filters=None, shown=16):
    """How far above real faces the ascent images of a layer drive their filters (``ascent_strength``), and which
    of them a figure shows, as plain numbers for the report.

    Args:
        model: a Keras model on raw pixels; layer: the layer the images were made for.
        activations: ``filter_images``'s second result for that layer (what each image reached).
        faces: (N, 48, 48[, 1]) real faces to compare with (e.g. the analysed test faces).
        filters: the filters the images are of, as given to ``filter_images`` (None: all).
        shown: how many of the images a figure shows: the filters driven furthest (``strongest`` of "z").
    Returns:
        {"layer", "filters", "z" (list: each filter's ``ascent_strength``), "stronger" (at least
         ``STRONGER_THAN_FACES`` standard deviations above the faces), "median_z", "shown" (list of the shown
         images' indices, furthest first)}.
    """
    responses = face_responses(model, layer, faces)
    strength = ascent_strength(activations, responses if filters is None else responses[:, np.asarray(filters)])
    chosen = strongest(strength["z"], shown)
    return {"layer": layer, "filters": strength["filters"], "z": [float(value) for value in strength["z"]],
            "stronger": strength["stronger"], "median_z": strength["median_z"],
            "shown": [int(index) for index in chosen]}
