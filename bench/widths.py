"""Training images/s of vgg_fast against re-balanced stage widths and convolutions, measured in one run.

Usage: python bench/widths.py [--train-images N] [--repeats R]
A variant that trains much faster than vgg_fast would fit more epochs into the cpu profile's hour; this
prints the ratio, parameters and multiply-adds of each, best of R measurements (the machine drifts).
"""

import argparse
import sys

import pandas as pd

from bench import train_throughput

#: (name, stage widths, convolutions per stage) of the vgg_fast preset's builder; the preset itself first.
VARIANTS = [
    ("vgg_fast", None, None),
    ("one conv at 24 px", (32, 64, 128, 256), (1, 1, 2, 2)),
    ("3/4 width", (24, 48, 96, 192), (1, 2, 2, 2)),
    ("narrow at 48 and 24 px", (16, 48, 128, 256), (1, 2, 2, 2)),
    ("width moved to 12 and 6 px", (32, 64, 160, 320), (1, 1, 2, 2)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=1024, help="images per throughput measurement")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch size (the cpu profile's)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per variant; the best counts")
    args = parser.parse_args()

    rows, reference = [], None
    for name, widths, convs in VARIANTS:
        options = {"widths": widths, "convs_per_stage": convs} if widths else {}
        runs = [train_throughput("vgg_fast", args.train_images, batch_size=args.batch_size, options=options)
                for _ in range(args.repeats)]
        per_second, parameters, flops = max(runs)
        reference = reference or per_second
        rows.append((name, "-".join(map(str, widths)) if widths else "preset", "".join(map(str, convs)) if convs
                     else "preset", f"{parameters:,}", f"{flops / 1e6:,.0f}", f"{per_second:,.0f}",
                     f"{per_second / reference:.2f}x"))
    print(pd.DataFrame(rows, columns=["variant", "widths", "convs", "params", "MFLOPs", "images/s",
                                      "vs vgg_fast"]).to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
