"""Reading ordinary photos: folders, EXIF rotation, grayscale and 16-bit, unreadable files named."""

import numpy as np
import pytest
from PIL import Image

from fer_utils import detect, errors, photos
from photographs import astronaut

#: EXIF orientation 6: the stored pixels are to be turned 90 degrees clockwise to stand upright.
ORIENTATION = 0x0112


def test_an_exif_rotated_photo_reads_upright_and_gives_the_same_face(tmp_path):
    upright = astronaut()
    Image.fromarray(upright).save(tmp_path / "upright.png")
    stored = Image.fromarray(upright).rotate(90, expand=True)  # what a phone held sideways stores
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    stored.save(tmp_path / "sideways.jpg", quality=95, exif=exif)
    read = photos.read(tmp_path / "sideways.jpg")
    assert read.pixels.shape == upright.shape
    assert np.abs(read.pixels.astype(int) - upright).mean() < 3  # JPEG's loss only
    [face], [reference] = detect.find_faces(read.pixels), detect.find_faces(photos.read(tmp_path / "upright.png").pixels)
    assert np.abs(np.subtract(face.eyes, reference.eyes)).max() <= 3


def test_grayscale_and_16_bit_photos_read_as_rgb(tmp_path):
    Image.fromarray(np.full((30, 40), 100, np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(np.full((30, 40), 257 * 200, np.uint16)).save(tmp_path / "deep.png")
    assert photos.read(tmp_path / "gray.png").pixels.shape == (30, 40, 3)
    assert (photos.read(tmp_path / "deep.png").pixels == 200).all()  # scaled, not clipped at 255


def test_folders_list_their_photos_and_missing_or_empty_inputs_are_named(tmp_path):
    for name in ("b.JPG", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert photos.photo_paths([tmp_path, tmp_path / "a.png"]) == [tmp_path / "a.png", tmp_path / "b.JPG"]
    with pytest.raises(errors.InputError, match="missing.jpg: no such file"):
        photos.photo_paths([tmp_path / "missing.jpg"])
    with pytest.raises(errors.InputError, match="sub: a folder without photos"):
        photos.photo_paths([tmp_path / "sub"])
    with pytest.raises(errors.InputError, match="no photo given"):
        photos.photo_paths([])


def test_an_unreadable_file_is_an_error_naming_it(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(errors.InputError, match=r"broken\.jpg: not a readable image .*--skip-unreadable"):
        photos.read(tmp_path / "broken.jpg")
