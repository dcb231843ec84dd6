"""Read FER2013 from image folders: ``<root>/<split>/<class>/<image>`` or unlabeled ``<root>/<split>/<image>``.

The root may also be one split folder. ``scan`` finds every file and reads its bytes (and hashes them all, for
the cache key); ``read`` decodes them into the arrays of a ``fer_utils.data.Dataset``; ``load_warnings`` says
what a load resized or skipped. Every file in a class folder or an unlabeled split folder is loaded or
reported, never skipped without a word.
"""

import hashlib
import io
import re
import sys

import numpy as np
from PIL import Image
from tqdm import tqdm

from fer_utils import CLASS_NAMES, IMAGE_SIZE
from fer_utils.errors import DataError

#: Split folder names (lower case, without "_", "-" and spaces) and the usage each stands for.
SPLIT_FOLDERS = {"train": "Training", "training": "Training", "val": "PublicTest", "valid": "PublicTest",
                 "validation": "PublicTest", "publictest": "PublicTest", "privatetest": "PrivateTest",
                 "test": "Test"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_EXPECTED = (f"expected <split>/<class>/<image> (or <split>/<image> for unlabeled images) with split folders "
             f"{', '.join(sorted(SPLIT_FOLDERS))} and class folders {', '.join(CLASS_NAMES)} (any case) or 0-6; "
             f"images {', '.join(IMAGE_SUFFIXES)}")


def scan(root, progress):
    """Find and read the files of an image folder: <root>/<split>/<class>/<file>, <root>/<split>/<file>.

    Root may also be one split folder. Every file in a class folder (at any depth) or an unlabeled split folder
    is an entry, whatever its type; hidden files and folders (".name") are ignored.

    Args:
        root: the folder (a pathlib.Path).
        progress: show a tqdm progress bar on stderr.
    Returns:
        (entries, content sha256). Entries are (path, usage, label, bytes) ordered by usage (the canonical order
        of ``data.USAGES``), label (-1 for unlabeled) and path; bytes is None for a file whose type is not one of
        IMAGE_SUFFIXES. The hash covers the sorted relative paths and bytes (for other files, the size) of every
        entry.
    Raises:
        DataError: an unknown split or class folder, an image outside a class folder, an empty split folder,
        or no images at all; the message names the folder or file.
    """
    from fer_utils.data import USAGES  # data imports this module: take its usage order at call time

    found = [entry for split_folder in _split_folders(root) for entry in _split_files(split_folder)]
    found.sort(key=lambda entry: (USAGES.index(entry[1]), entry[2], entry[0]))
    entries = [(path, usage, label, path.read_bytes() if path.suffix.lower() in IMAGE_SUFFIXES else None)
               for path, usage, label in tqdm(found, desc=f"reading {root.name}", unit="image", file=sys.stderr,
                                              disable=not progress)]
    digest = hashlib.sha256()
    for relative, content in sorted((path.relative_to(root).as_posix(), content or str(path.stat().st_size).encode())
                                    for path, _, _, content in entries):
        digest.update(relative.encode() + b"\0" + len(content).to_bytes(8, "little") + content)
    return entries, digest.hexdigest()


def _split_folders(root):
    """The split folders of root: its subfolders, or root itself when it holds class folders or images."""
    items = [item for item in sorted(root.iterdir()) if not item.name.startswith(".")]
    folders = [item for item in items if item.is_dir()]
    if any(_class_index(folder.name) is not None for folder in folders) or (items and not folders):
        if _split_usage(root.name) is None:  # root is one split folder
            kind = "class folders" if folders else "images"
            raise DataError(f"{root}: a folder of {kind}, but its name {root.name!r} is not a split name, so "
                            f"its usage is unknown; name it one of {', '.join(sorted(SPLIT_FOLDERS))}")
        return [root]
    for folder in folders:
        if _split_usage(folder.name) is None:
            raise DataError(f"{folder}: unknown split folder {folder.name!r}; {_EXPECTED}")
    if not folders:
        raise DataError(f"{root}: no images found; {_EXPECTED}")
    return folders


def _split_files(split_folder):
    """(path, usage, label) of every file of a split folder: in its class folders, or directly in it (label -1)."""
    usage = _split_usage(split_folder.name)
    items = [item for item in sorted(split_folder.iterdir()) if not item.name.startswith(".")]
    class_folders = [item for item in items if item.is_dir()]
    found = []
    if not class_folders:  # unlabeled: every file of the split folder
        found = [(item, usage, -1) for item in items if item.is_file()]
    for item in items:
        if item.is_dir():
            label = _class_index(item.name)
            if label is None:
                raise DataError(f"{item}: unknown class folder {item.name!r}; {_EXPECTED}")
            found += [(path, usage, label) for path in sorted(item.rglob("*")) if path.is_file()
                      and not any(part.startswith(".") for part in path.relative_to(item).parts)]
        elif class_folders and item.suffix.lower() in IMAGE_SUFFIXES:
            raise DataError(f"{item}: an image outside a class folder; {_EXPECTED}")
    if not found:
        raise DataError(f"{split_folder}: an empty split folder (no files in it or its class folders); "
                        "remove it or put its images in")
    return found


def _class_index(name):
    """The label a class folder name stands for ("Happy", "happy" and "3" are all 3), or None."""
    name = name.lower()
    if name in CLASS_NAMES:
        return CLASS_NAMES.index(name)
    return int(name) if name in {str(label) for label in range(len(CLASS_NAMES))} else None


def _split_usage(name):
    """The usage a split folder name stands for ("Private_Test" is "PrivateTest"), or None."""
    return SPLIT_FOLDERS.get(name.lower().replace("_", "").replace("-", "").replace(" ", ""))


def read(entries, root, resize, skip_unreadable, progress):
    """Decode scanned images to (N, 48, 48, 1) uint8, converting colour to grayscale and 16 bits to 8.

    Args:
        entries: what ``scan`` returned for root.
        root: the scanned folder; paths are reported relative to it.
        resize: resize images that are not 48x48 (bilinear) instead of refusing them.
        skip_unreadable: leave out files that are not readable images instead of refusing the folder.
        progress: show a tqdm progress bar on stderr.
    Returns:
        The arrays of a Dataset: "x", "y", "usage", "ids" (0-based file index), "paths" (relative, posix) of
        the readable images, "resized_count" and "first_resized" (its path), and "skipped" ("path: reason").
    Raises:
        DataError: files that are not readable images (listed, with the reason), unless skip_unreadable;
        an image that is not 48x48 unless resize; no readable image at all.
    """
    x = np.empty((len(entries), IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8)
    readable = np.ones(len(entries), bool)
    resized, unreadable = [], []  # unreadable: "relative/path: reason"
    for row, (path, _, _, content) in enumerate(tqdm(entries, desc=f"decoding {root.name}", unit="image",
                                                     file=sys.stderr, disable=not progress)):
        image, reason = _decode(path, content)
        if image is None:
            readable[row] = False
            unreadable.append(f"{path.relative_to(root).as_posix()}: {reason}")
            continue
        if image.size != (IMAGE_SIZE, IMAGE_SIZE):
            if not resize:
                raise DataError(f"{path}: image is {image.width}x{image.height} pixels, expected {IMAGE_SIZE}x"
                                f"{IMAGE_SIZE}; pass --resize (resize=True) to resize such images (bilinear)")
            image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
            resized.append(path)
        x[row, :, :, 0] = np.asarray(image)
    if unreadable and not skip_unreadable:
        raise DataError(f"{root}: {_files(len(unreadable))} "
                        f"{'is not a readable image' if len(unreadable) == 1 else 'are not readable images'}: "
                        f"{_listing(unreadable)}; pass --skip-unreadable (skip_unreadable=True) to skip "
                        f"{'it' if len(unreadable) == 1 else 'them'} with a warning")
    if not readable.any():
        raise DataError(f"{root}: none of its {_files(len(entries))} is a readable image: {_listing(unreadable)}")
    kept = [entry for entry, keep in zip(entries, readable) if keep]
    return {"x": x[readable], "y": np.array([label for _, _, label, _ in kept], np.int64),
            "usage": np.array([usage for _, usage, _, _ in kept], "<U11"),
            "ids": np.arange(len(kept), dtype=np.int64),
            "paths": np.array([path.relative_to(root).as_posix() for path, _, _, _ in kept], str),
            "resized_count": len(resized), "first_resized": str(resized[0]) if resized else "",
            "skipped": np.array(unreadable, str) if unreadable else np.zeros(0, "<U1")}


def _decode(path, content):
    """(8-bit grayscale PIL image, None) of a scanned file's bytes, or (None, why it is not a readable image)."""
    if content is None:
        return None, (f"unsupported file type {path.suffix.lower() or 'without a suffix'!r} "
                      f"(images {', '.join(IMAGE_SUFFIXES)})")
    try:
        with Image.open(io.BytesIO(content)) as image:
            return _grayscale(image), None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # PIL uses all four
        reason = re.sub(r" <_io\.BytesIO object at 0x[0-9a-f]+>", "", str(error))  # PIL names its buffer
        return None, f"unreadable image ({reason})"


def _grayscale(image):
    """A PIL image as 8-bit grayscale ("L"): colour by ITU-R 601-2 luma, 16-bit gray by round(value / 257).

    PIL's own convert("L") clips 16-bit values at 255 (a 16-bit face would come out almost white).
    """
    if image.mode.startswith("I"):  # "I;16", "I;16B", ... and "I" (32-bit): 16-bit PNGs open as these
        values = np.asarray(image, np.float64)  # (H, W)
        return Image.fromarray(np.clip(np.rint(values / 257), 0, 255).astype(np.uint8), "L")
    return image.convert("L")


def load_warnings(root, arrays):
    """The warnings a load of the folder gives, fresh or from the cache: images resized and files skipped.

    Args:
        root: the folder.
        arrays: what ``read`` returned for it (or the cache holds).
    Returns:
        A list of messages, empty when nothing was resized or skipped.
    """
    messages = []
    if arrays["resized_count"]:
        messages.append(f"{root}: resized {int(arrays['resized_count'])} images to 48x48 (bilinear), "
                        f"the first {arrays['first_resized']}")
    skipped = arrays["skipped"]
    if len(skipped):
        messages.append(f"{root}: skipped {_files(len(skipped))} that "
                        f"{'is not a readable image' if len(skipped) == 1 else 'are not readable images'} "
                        f"(skip_unreadable=True): {_listing(skipped)}")
    return messages


def _files(count):
    """The count in words: 1 file, 2 files, 1,234 files."""
    return f"{count:,} file" + ("" if count == 1 else "s")


def _listing(items, limit=10):
    """Items joined with "; ", the first `limit` of them, then how many more."""
    items = list(items)
    more = f"; … and {len(items) - limit:,} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more
