"""Batched interpretability against per-item Python loops, measured in one run and printed as ratios.

Usage: python bench/bench_interpretability.py [--filters 32] [--steps 16] [--images 16] [--layers conv2_1,conv3_2]
Feature visualisation: all filters of a layer in one batch against one filter at a time through
the same compiled step graph (``batch_size=1``; warmed up first, so tracing is not counted),
against a Python loop of ``filter_images`` calls, and against that loop run eagerly (the same code
without tf.function, how a naive per-filter loop runs). Saliency: one call over N faces against N
calls of one face, compiled and eager. Uses a random-weights vgg_small: timings do not depend on
the weights.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402


def timed(function, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def eagerly(function):
    """Seconds of ``function()`` with every tf.function run eagerly (no graph)."""
    tf.config.run_functions_eagerly(True)
    try:
        return timed(function)[0]
    finally:
        tf.config.run_functions_eagerly(False)


def row(measure, batched_seconds, loop_seconds, against):
    """A table row: the batched time, the loop's time and their ratio."""
    ratio = f"{loop_seconds / batched_seconds:.1f}x"
    return measure, f"{batched_seconds:.2f} s", f"{against} {loop_seconds:.2f} s", ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filters", type=int, default=32, help="filters per layer (capped at its width)")
    parser.add_argument("--steps", type=int, default=16, help="ascent steps per filter")
    parser.add_argument("--images", type=int, default=16, help="faces for the saliency timings")
    parser.add_argument("--layers", default="conv2_1,conv3_2", help="comma-separated conv layers of vgg_small")
    args = parser.parse_args()

    import keras

    from fer_utils import features, models, saliency

    keras.utils.set_random_seed(0)
    model = models.build("vgg_small")
    rows = []
    for layer in args.layers.split(","):
        width = model.get_layer(layer).output.shape[-1]
        filters = np.arange(min(args.filters, width))
        options = dict(steps=args.steps, progress=False)
        features.filter_images(model, layer, filters[:2], steps=1, progress=False)  # trace the graphs once
        batched, (images, activations) = timed(features.filter_images, model, layer, filters, **options)
        one_by_one, (images_1, activations_1) = timed(features.filter_images, model, layer, filters, batch_size=1,
                                                      **options)
        def loop_of_calls():
            return [features.filter_images(model, layer, [index], **options) for index in filters]
        calls, _ = timed(loop_of_calls)
        eager = eagerly(loop_of_calls)
        assert np.allclose(activations, activations_1, rtol=1e-3, atol=1e-4), "batching changed the result"
        name = f"filter_images {layer} ({len(filters)} filters x {args.steps} steps)"
        rows.append(row(name, batched, one_by_one, "batch_size=1"))
        rows.append(row(name, batched, calls, "loop of calls"))
        rows.append(row(name, batched, eager, "eager loop of calls"))

    faces = np.random.default_rng(0).integers(0, 256, (args.images, 48, 48, 1)).astype(np.uint8)
    methods = {"vanilla": {}, "smoothgrad": {"samples": 16}, "integrated_gradients": {"steps": 16},
               "grad_cam": {}}
    for name, options in methods.items():
        method = saliency.methods()[name]
        method(model, faces[:2], **options)  # trace
        batched, _ = timed(method, model, faces, **options)
        def per_face():
            return [method(model, faces[i:i + 1], **options) for i in range(len(faces))]
        loop, _ = timed(per_face)
        eager = eagerly(per_face)
        name = f"saliency.{name} ({len(faces)} faces, {options or 'defaults'})"
        rows.append(row(name, batched, loop, "per-face loop"))
        rows.append(row(name, batched, eager, "eager per-face loop"))

    print(f"vgg_small, random weights; {os.cpu_count()} CPU cores")
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        print(pd.DataFrame(rows, columns=["measure", "batched", "against", "ratio"]).to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
