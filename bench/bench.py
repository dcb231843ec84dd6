"""Benchmarks measured in one run, printed as ratios: parsing, caching, synthesis, training throughput.

Usage: python bench/bench.py [--data PATH] [--train-images N]
Default data is the embedded synthetic set (written first if missing). For the real-data figure of
the README, point --data at an ML2017 train.csv.gz or a Kaggle fer2013.csv.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def timed(function, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def naive_parse(path):
    """The approach the loader replaces: pandas, then a Python split per row."""
    frame = pd.read_csv(path)
    column = "feature" if "feature" in frame.columns else "pixels"
    return np.stack(frame[column].apply(lambda text: np.array(text.split(), dtype=float)).to_numpy())


FER2013_TRAIN_FACES = 25_838  # 90 % of the 28,709 Training faces


def keras_batch_norm(model):
    """A copy of ``model`` whose FusedBatchNormalization layers are plain Keras BatchNormalization."""
    import keras

    from fer_utils import models

    def clone(layer):
        if isinstance(layer, models.FusedBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def train_throughput(model_name, images, batch_size=128, fused=True, options=None):
    """Training images per second of a preset on random faces (after one warm-up step).

    ``fused=False`` measures the same model with Keras's own (unfused) batch normalisation; ``options`` are
    keyword arguments of the preset's builder (``models.build``), e.g. other stage widths.
    """
    import keras

    from fer_utils import models

    model = models.build(model_name, **(options or {}))
    model = model if fused else keras_batch_norm(model)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 256, (images, 48, 48, 1)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 7, images)
    model.fit(x[:batch_size], y[:batch_size], batch_size=batch_size, verbose=0)
    seconds, _ = timed(model.fit, x, y, batch_size=batch_size, verbose=0)
    keras.backend.clear_session()
    return images / seconds, model.count_params(), models.flops_per_image(model)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a fer2013.csv or ML2017 train.csv (optionally .gz)")
    parser.add_argument("--train-images", type=int, default=512, help="images per throughput measurement")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch size (the cpu profile's)")
    parser.add_argument("--synth-faces", type=int, default=5000, help="faces for the synthesis rate")
    args = parser.parse_args()

    from fer_utils import data, paths, synth

    path = args.data or paths.SYNTHETIC_CSV
    if args.data is None and not paths.SYNTHETIC_CSV.exists():
        synth.write_csv(paths.SYNTHETIC_CSV)
    rows = []
    cache_dir = tempfile.mkdtemp(prefix="fer-bench-")
    try:
        naive_seconds, naive = timed(naive_parse, path)
        parse_seconds, dataset = timed(data.load, path, cache=True, cache_dir=cache_dir, progress=False)
        cached_seconds, cached = timed(data.load, path, cache=True, cache_dir=cache_dir, progress=False)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    assert np.array_equal(naive.reshape(-1, 48, 48, 1), dataset.x) and np.array_equal(cached.x, dataset.x)
    rows.append(("parse (first load, writes cache)", f"{parse_seconds:.2f} s", f"naive pandas {naive_seconds:.2f} s",
                 f"{naive_seconds / parse_seconds:.1f}x faster"))
    rows.append(("cached load", f"{cached_seconds:.3f} s", f"first load {parse_seconds:.2f} s",
                 f"{parse_seconds / cached_seconds:.0f}x faster"))

    synth_seconds, _ = timed(synth.generate, args.synth_faces, seed=0, progress=False)
    rate = args.synth_faces / synth_seconds
    full = synth.FER2013_USAGE_COUNTS
    total = sum(full.values())
    rows.append(("synthetic faces", f"{rate:,.0f} faces/s", f"{total:,} faces in {total / rate:.0f} s",
                 f"{60 / (total / rate):.1f}x inside the 60 s budget"))

    throughput = {}
    for name in ("seed2017", "vgg", "vgg_fast", "vgg_small"):
        images = max(128, args.train_images // 8) if name == "seed2017" else args.train_images
        throughput[name] = train_throughput(name, images, batch_size=args.batch_size)
    unfused = train_throughput("vgg_fast", args.train_images, batch_size=args.batch_size, fused=False)[0]
    rows.append(("fused batch norm, vgg_fast", f"{throughput['vgg_fast'][0]:,.0f} images/s",
                 f"Keras BatchNormalization {unfused:,.0f} images/s", f"{throughput['vgg_fast'][0] / unfused:.2f}x faster"))
    for name, (per_second, parameters, flops) in throughput.items():
        rows.append((f"train {name}", f"{per_second:,.0f} images/s", f"{parameters:,} params, {flops / 1e6:,.0f} MFLOPs",
                     f"{per_second / throughput['seed2017'][0]:.1f}x seed2017"))
    # cost of one epoch of FER2013 training (25,838 faces after a 10 % validation split): forward + backward
    # is about 3x the forward FLOPs; the measured rate gives this machine's effective FLOP/s
    for name, (per_second, _, flops) in throughput.items():
        tflop = 3 * flops * FER2013_TRAIN_FACES / 1e12
        rows.append((f"epoch {name}", f"{FER2013_TRAIN_FACES / per_second / 60:.1f} min here",
                     f"{tflop:.1f} TFLOP per epoch", f"{3 * flops * per_second / 1e9:.0f} GFLOP/s effective"))

    print(f"data: {path} ({len(dataset):,} rows); {os.cpu_count()} CPU cores")
    print(pd.DataFrame(rows, columns=["measure", "value", "against", "ratio"]).to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
