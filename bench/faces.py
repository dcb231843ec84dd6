"""The face detector of `fer-workbook faces` on the photos that ship with scikit-image: faces found, seconds per photo.

Usage: python bench/faces.py [--repeats R]
Each photo is scanned R times after one warm-up scan (the first call builds MTCNN's graphs); the best time counts
(the machine drifts by tens of percent). The photos are scikit-image's bundled test images (skimage/data): two
portraits (NASA's astronaut Eileen Collins, public domain, and the cameraman) and pictures of no human face. Each
portrait is also scanned turned by 90 degrees and shrunk to a quarter, to show what the detector does not handle.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fer_utils import detect, photos

#: scikit-image's bundled photos, and whether a person's face is in them.
PHOTOS = {"astronaut.png": 1, "camera.png": 1, "coffee.png": 0, "chelsea.png": 0, "rocket.jpg": 0, "motorcycle_left.png": 0}


def timed(pixels, repeats):
    """(faces found, best seconds of ``repeats`` scans)."""
    best, found = float("inf"), []
    for _ in range(repeats):
        started = time.perf_counter()
        found = detect.find_faces(pixels)
        best = min(best, time.perf_counter() - started)
    return len(found), best


def main():
    from skimage import data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="scans per photo; the best time counts")
    args = parser.parse_args()
    folder = Path(data.__file__).parent
    detect.find_faces(photos.read(folder / "astronaut.png").pixels)  # warm-up: graphs built once per process
    rows = []
    for name, people in PHOTOS.items():
        pixels = photos.read(folder / name).pixels
        variants = {"as shipped": pixels}
        if people:
            variants["turned 90 degrees"] = np.rot90(pixels).copy()
            variants["a quarter the size"] = np.asarray(Image.fromarray(pixels).reduce(4))
        for variant, image in variants.items():
            found, seconds = timed(image, args.repeats)
            rows.append((name, variant, f"{image.shape[1]}x{image.shape[0]}", people, found, f"{seconds:.2f}"))
    table = pd.DataFrame(rows, columns=["photo", "variant", "size", "faces in it", "faces found", "seconds"])
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
