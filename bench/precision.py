"""Training images/s of each preset in float32 against Keras's mixed_bfloat16 policy, measured in one run.

Usage: python bench/precision.py [--train-images N] [--repeats R] [--models vgg_small,vgg_fast]
The two policies alternate, best of R each (the machine drifts by tens of percent); the ratio is what counts.
On a CPU without native bfloat16 (``fer_utils.precision.native_bfloat16``) bfloat16 is expected to be slower.
"""

import argparse
import sys

import pandas as pd

from bench import train_throughput


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=768, help="images per throughput measurement")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch size (the cpu profile's)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per policy; the best counts")
    parser.add_argument("--models", default="vgg_small,vgg_fast,seed2017", help="comma-separated presets")
    args = parser.parse_args()

    import keras

    from fer_utils import precision

    rows = []
    for name in args.models.split(","):
        best = {"float32": 0.0, "mixed_bfloat16": 0.0}
        for _ in range(args.repeats):
            for policy in best:  # alternating, so a slow stretch of the machine hits both
                keras.mixed_precision.set_global_policy(policy)
                per_second, _, _ = train_throughput(name, args.train_images, batch_size=args.batch_size)
                best[policy] = max(best[policy], per_second)
        keras.mixed_precision.set_global_policy("float32")
        rows.append((name, f"{best['float32']:,.0f}", f"{best['mixed_bfloat16']:,.0f}",
                     f"{best['mixed_bfloat16'] / best['float32']:.2f}x"))
    print(f"native bfloat16 on this CPU: {precision.native_bfloat16()} "
          f"({', '.join(sorted(precision.cpu_flags() & set(precision.NATIVE_FLAGS))) or 'no flag'})")
    print(pd.DataFrame(rows, columns=["model", "float32 images/s", "bfloat16 images/s", "bfloat16 / float32"])
          .to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
