"""Training images/s of each preset in float32 against Keras's mixed_bfloat16 policy, measured in one run.

Usage: python bench/precision.py [--loop fit|plain] [--models vgg_fast,vgg_lean] [--repeats R] [--rows N]
The two policies alternate, best of R each (the machine drifts by tens of percent); the ratio is what counts.

``--loop fit`` (the default) measures the project's own training loop, ``fer_utils.train.train`` under the
``cpu`` profile: AdamW, the augmentation pipeline, the fused batch norm and the callbacks, on N synthetic faces
(or ``--data``), timing the training batches of every epoch after the first (the first traces the graph).
``--loop plain`` measures ``model.fit`` with Adam on random tensors, the model alone.
On a CPU without native bfloat16 (``fer_utils.precision.native_bfloat16``) bfloat16 is expected to be slower.
"""

import argparse
import sys
import tempfile
import time

import pandas as pd

from bench import train_throughput


def fit_throughput(name, setting, dataset, rows, epochs=3):
    """Steady-state training images/s of ``fer_utils.train.train`` (cpu profile) for one preset and precision.

    Each epoch after the first is timed from the end of its first training batch to the end of its last
    (validation excluded); the fastest epoch counts.
    """
    import keras

    from fer_utils import config as cfg
    from fer_utils import train

    class BatchClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append([])

        def on_train_batch_end(self, batch, logs=None):
            self.epochs[-1].append(time.perf_counter())

    config = cfg.resolve("cpu", model=name, precision=setting, max_train_rows=rows, epochs=epochs,
                         patience=epochs, time_budget=0.0, tta="none")
    clock = BatchClock()
    with tempfile.TemporaryDirectory(prefix="fer-bench-precision-") as runs_dir:
        train.train(config, dataset=dataset, runs_dir=runs_dir, progress=False, extra_callbacks=[clock])
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    rates = [(len(stamps) - 1) * config.batch_size / (stamps[-1] - stamps[0])
             for stamps in clock.epochs[1:] if len(stamps) > 1]
    if not rates:
        raise SystemExit(f"--rows {rows}: too few faces for two timed batches per epoch; give more rows")
    return max(rates)


def plain_throughput(name, policy, images, batch_size):
    """Training images/s of ``model.fit`` on random tensors under one Keras policy."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    per_second, _, _ = train_throughput(name, images, batch_size=batch_size)
    keras.mixed_precision.set_global_policy("float32")
    return per_second


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=("fit", "plain"), default="fit",
                        help="the project's training loop (fit) or model.fit on random tensors (plain)")
    parser.add_argument("--models", default="vgg_fast,vgg_lean", help="comma-separated presets")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per policy; the best counts")
    parser.add_argument("--rows", type=int, default=4000, help="--loop fit: training faces (synthetic by default)")
    parser.add_argument("--data", help="--loop fit: a FER2013 file instead of the embedded synthetic set")
    parser.add_argument("--train-images", type=int, default=768, help="--loop plain: images per measurement")
    parser.add_argument("--batch-size", type=int, default=128, help="--loop plain: batch size (the cpu profile's)")
    args = parser.parse_args()

    from fer_utils import precision, train

    dataset = train.load_data(args.data, progress=False) if args.loop == "fit" else None
    rows = []
    for name in args.models.split(","):
        best = {"float32": 0.0, "bfloat16": 0.0}
        for _ in range(args.repeats):
            for setting in best:  # alternating, so a slow stretch of the machine hits both
                if args.loop == "fit":
                    rate = fit_throughput(name, setting, dataset, args.rows)
                else:
                    rate = plain_throughput(name, precision.policy(setting), args.train_images, args.batch_size)
                best[setting] = max(best[setting], rate)
                print(f"{name} {setting}: {rate:,.0f} images/s", file=sys.stderr)
        rows.append((name, f"{best['float32']:,.0f}", f"{best['bfloat16']:,.0f}",
                     f"{best['bfloat16'] / best['float32']:.2f}x"))
    print(f"loop: {args.loop}; native bfloat16 on this CPU: {precision.native_bfloat16()} "
          f"({', '.join(sorted(precision.cpu_flags() & set(precision.NATIVE_FLAGS))) or 'no flag'})")
    print(pd.DataFrame(rows, columns=["model", "float32 images/s", "bfloat16 images/s", "bfloat16 / float32"])
          .to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
