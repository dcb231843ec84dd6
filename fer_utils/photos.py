"""Reading ordinary photos for ``fer-workbook faces``: files and folders, any size, colour or grayscale, upright.

A photo's EXIF orientation is applied (a phone's portrait photo is stored sideways with a tag saying so), colour
stays colour for the detector, and 16-bit grayscale is scaled to 8 bits as the image-folder reader does.
"""

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from fer_utils import errors, paths

#: What a folder is searched for (case-insensitive).
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclasses.dataclass(frozen=True)
class Photo:
    """A photo as read: ``pixels`` (H, W, 3) uint8 RGB, upright; ``path`` where it came from."""

    path: Path
    pixels: np.ndarray


def photo_paths(inputs):
    """The photo files named by ``inputs``: each file as given, each folder's photos (not its subfolders, not hidden
    files), sorted.

    Args:
        inputs: files and folders (str or Path; relative ones from the cwd, then the project root).
    Returns:
        A list of absolute Paths without repeats, in the order given.
    Raises:
        InputError: nothing given, a path that does not exist (every place looked at is named), or a folder
            without photos.
    """
    if not inputs:
        raise errors.InputError("no photo given: name photo files or folders")
    found = []
    for given in inputs:
        path = paths.resolve(given)
        if not path.exists():
            raise errors.InputError(f"{given}: no such file or folder (looked in "
                                    f"{', '.join(map(str, paths.candidates(given)))})")
        if path.is_dir():
            listed = sorted(entry for entry in path.iterdir() if entry.is_file() and not entry.name.startswith(".")
                            and entry.suffix.lower() in PHOTO_SUFFIXES)  # hidden: e.g. macOS's ._IMG.JPG
            if not listed:
                raise errors.InputError(f"{path}: a folder without photos ({', '.join(PHOTO_SUFFIXES)})")
            found.extend(listed)
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def read(path):
    """One photo, upright (EXIF orientation applied), as RGB.

    Args:
        path: an image file PIL reads (JPEG, PNG, ...).
    Returns:
        A ``Photo``.
    Raises:
        UnreadablePhoto: the file is not a readable image (the message names it and why).
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I"):  # 16-bit gray: PIL's convert would clip at 255
                image = Image.fromarray(np.clip(np.rint(np.asarray(image, np.float64) / 257), 0, 255).astype(np.uint8))
            pixels = np.asarray(image.convert("RGB"), np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise errors.UnreadablePhoto(path, str(error)) from None
    return Photo(path=path, pixels=pixels)
