"""Weight averaging over the tail of the schedule (SWA) and the batch-norm statistics it needs.

Stochastic weight averaging (Izmailov et al. 2018, https://arxiv.org/abs/1803.05407) averages the weights
a run holds at the end of its last epochs; the average sits nearer the centre of the flat region the
cosine tail wanders in, which tends to generalise better than any one end point. Batch-norm moving
statistics cannot be averaged with the weights: they belong to the network that produced them. After
averaging they are recomputed by one pass over the training faces (``recompute_batch_norm``), as
``torch.optim.swa_utils.update_bn`` does; without that an earlier EMA trial here lost accuracy.

The running mean is part of a run's committed state (``callbacks.RunState`` saves it with each epoch),
so an interrupted run resumes with the same average it would have had.
"""

import keras
import numpy as np
from tqdm import tqdm

from fer_utils import paths


def in_tail(progress, tail):
    """Whether an epoch that ended at schedule ``progress`` (0-1) joins an average over the last ``tail``."""
    return tail > 0 and progress >= 1.0 - tail - 1e-9


def update(mean, count, weights):
    """The running mean of ``count`` weight lists with ``weights`` added (a new list; ``mean`` may be None)."""
    if mean is None or count == 0:
        return [np.array(w, dtype=np.float64) for w in weights]
    return [m + (np.asarray(w, dtype=np.float64) - m) / (count + 1) for m, w in zip(mean, weights)]


def save(path, mean):
    """Write a weight list atomically as an .npz (arrays w0, w1, ...)."""
    with paths.atomic_write(path, "wb") as handle:
        np.savez(handle, **{f"w{index}": array for index, array in enumerate(mean)})


def load(path):
    """The weight list ``save`` wrote."""
    with np.load(path) as arrays:
        return [arrays[f"w{index}"] for index in range(len(arrays.files))]


def batch_norm_layers(model):
    """Every BatchNormalization layer of ``model`` (the fused one included), nested models searched too."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(batch_norm_layers(layer))
    return found


def recompute_batch_norm(model, images, batch_size=256, progress=True):
    """Set every batch norm's moving mean and variance to their average over ``images``' batches.

    Runs the model in training mode (dropout on, as in training) over unaugmented ``images`` with each
    layer's momentum set so that after batch i the moving statistic is the mean of the i batch statistics.

    Args:
        model: a Keras model.
        images: (N, 48, 48, 1) raw-pixel faces (the model rescales).
        batch_size: faces per batch.
        progress: show a progress bar.
    Returns:
        The number of batches seen (0 when the model has no batch norm).
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, dtype=np.float32))
        layer.moving_variance.assign(np.zeros(layer.moving_variance.shape, dtype=np.float32))
    starts = range(0, len(images), batch_size)
    try:
        for index, start in enumerate(tqdm(starts, desc="batch-norm statistics", unit="batch", disable=not progress,
                                           leave=False), start=1):
            for layer in layers:
                layer.momentum = 1.0 - 1.0 / index  # moving = mean of the batch statistics so far
            model(images[start:start + batch_size].astype(np.float32), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(starts)
