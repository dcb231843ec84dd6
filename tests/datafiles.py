"""Small FER2013 files for the data tests (test_data, test_csvfile, test_imagefolders): five faces written as each
csv form or as images."""

import gzip

import numpy as np
from PIL import Image

# Row 0 holds every byte value 0..255 (cycled), so a round trip checks the digit parsing exactly.
PIXELS = np.stack([np.arange(2304) % 256, np.random.default_rng(0).integers(0, 256, 2304),
                   np.zeros(2304, int), np.full(2304, 255), np.arange(2304)[::-1] % 256]).astype(np.uint8)
LABELS = np.array([0, 3, 6, 3, 1])
USAGE = np.array(["Training", "Training", "PublicTest", "PrivateTest", "Training"])


def pixel_text(row):
    return " ".join(map(str, row))


def write(path, text, gz=False):
    content = text.encode()
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def fer2013_csv(path, gz=False, rows=None):
    rows = rows or [f"{y},{pixel_text(x)},{u}" for x, y, u in zip(PIXELS, LABELS, USAGE)]
    return write(path, "emotion,pixels,Usage\n" + "\n".join(rows) + "\n", gz)


def ml2017_train_csv(path, gz=False, rows=None):
    rows = rows or [f"{y},{pixel_text(x)}" for x, y in zip(PIXELS, LABELS)]
    return write(path, "label,feature\n" + "\n".join(rows) + "\n", gz)


def save_image(path, array, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode).save(path)
    return path
