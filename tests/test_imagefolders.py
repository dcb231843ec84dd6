"""Tests for fer_utils.imagefolders on tiny hand-made folders: layouts, grayscale, sizes, exact errors."""

import numpy as np
import pytest
from PIL import Image

from datafiles import PIXELS, save_image

from fer_utils import imagefolders
from fer_utils.errors import DataError


def make_folders(root):
    """train/{angry,Happy}, test/{3,angry}: five 48x48 PNGs, one of them RGB, and a stray text file."""
    save_image(root / "train" / "angry" / "a.png", PIXELS[0].reshape(48, 48))
    save_image(root / "train" / "angry" / "b.png", PIXELS[1].reshape(48, 48))
    rgb = np.stack([PIXELS[1].reshape(48, 48), PIXELS[4].reshape(48, 48), PIXELS[0].reshape(48, 48)], axis=-1)
    save_image(root / "train" / "Happy" / "c.png", rgb, "RGB")
    save_image(root / "test" / "3" / "d.png", PIXELS[3].reshape(48, 48))
    save_image(root / "test" / "angry" / "e.png", PIXELS[4].reshape(48, 48))
    (root / "train" / "README.txt").write_text("not an image")
    return root


def read(root, resize=False, skip_unreadable=False, progress=False):
    """The arrays of a folder, as ``data.load`` reads it on a cache miss."""
    entries, _ = imagefolders.scan(root, progress)
    return imagefolders.read(entries, root, resize, skip_unreadable, progress)


def test_class_folders_by_name_or_number_and_colour_to_grayscale(tmp_path, capsys):
    root = make_folders(tmp_path / "faces")
    arrays = read(root)
    assert arrays["usage"].tolist() == ["Training"] * 3 + ["Test"] * 2 and capsys.readouterr().err == ""
    assert arrays["y"].tolist() == [0, 0, 3, 0, 3] and arrays["ids"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(arrays["x"][0, :, :, 0], PIXELS[0].reshape(48, 48))
    gray = np.asarray(Image.open(root / "train" / "Happy" / "c.png").convert("L"))
    np.testing.assert_array_equal(arrays["x"][2, :, :, 0], gray)
    one_split = read(root / "test")
    assert set(one_split["usage"]) == {"Test"} and one_split["y"].tolist() == [0, 3]


def test_the_hash_covers_paths_and_contents(tmp_path):
    root = make_folders(tmp_path / "faces")
    _, first = imagefolders.scan(root, False)
    assert imagefolders.scan(root, False)[1] == first
    (root / "train" / "angry" / "b.png").rename(root / "train" / "angry" / "z.png")
    _, renamed = imagefolders.scan(root, False)
    save_image(root / "train" / "angry" / "z.png", PIXELS[2].reshape(48, 48))
    assert len({first, renamed, imagefolders.scan(root, False)[1]}) == 3


def test_progress_bars_go_to_stderr(tmp_path, capsys):
    read(make_folders(tmp_path / "faces"), progress=True)
    assert "image" in capsys.readouterr().err


def test_wrong_size_is_refused_unless_resize(tmp_path):
    root = make_folders(tmp_path / "faces")
    big = save_image(root / "train" / "sad" / "big.png", np.zeros((60, 50)))
    with pytest.raises(DataError, match=r"big\.png: image is 50x60 pixels.*--resize \(resize=True\)"):
        read(root)
    arrays = read(root, resize=True)
    assert arrays["x"].shape == (6, 48, 48, 1) and arrays["y"].tolist().count(4) == 1
    assert arrays["resized_count"] == 1 and arrays["first_resized"] == str(big)
    assert imagefolders.load_warnings(root, arrays) == [f"{root}: resized 1 images to 48x48 (bilinear), the first "
                                                        f"{big}"]


def test_16_bit_images_are_scaled_to_8_bits(tmp_path):
    values = np.arange(2304).reshape(48, 48) % 256  # every 8-bit value, stored as 16 bits (v * 257)
    path = tmp_path / "faces" / "train" / "happy" / "deep.png"
    path.parent.mkdir(parents=True)
    Image.fromarray((values * 257).astype(np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_array_equal(read(tmp_path / "faces")["x"][0, :, :, 0], values)


def test_unlabeled_split_folders_and_paths(tmp_path):
    root = make_folders(tmp_path / "faces")
    for name in ("z.png", "y.jpg"):
        save_image(root / "private_test" / name, PIXELS[2].reshape(48, 48))
    arrays = read(root)
    assert arrays["usage"].tolist() == ["Training"] * 3 + ["PrivateTest"] * 2 + ["Test"] * 2
    assert arrays["y"].tolist() == [0, 0, 3, -1, -1, 0, 3]
    assert arrays["paths"].tolist() == ["train/angry/a.png", "train/angry/b.png", "train/Happy/c.png",
                                        "private_test/y.jpg", "private_test/z.png", "test/angry/e.png", "test/3/d.png"]
    alone = read(root / "private_test")
    assert set(alone["usage"]) == {"PrivateTest"} and alone["paths"].tolist() == ["y.jpg", "z.png"]
    assert alone["y"].tolist() == [-1, -1]


# ------------------------------------------------------------------------------------------ bad input


def test_bad_folders(tmp_path):
    root = make_folders(tmp_path / "faces")
    (root / "train" / "angry" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken\.png: unreadable image"):
        read(root)
    (root / "train" / "angry" / "broken.png").unlink()
    save_image(root / "train" / "angery" / "x.png", np.zeros((48, 48)))
    with pytest.raises(DataError, match="angery: unknown class folder 'angery'"):
        read(root)
    (root / "train" / "angery" / "x.png").rename(root / "train" / "x.png")
    (root / "train" / "angery").rmdir()
    with pytest.raises(DataError, match=r"x\.png: an image outside a class folder"):
        read(root)
    (root / "holdout").mkdir()
    with pytest.raises(DataError, match="holdout: unknown split folder"):
        read(root)
    (root / "test").rename(tmp_path / "mixed")
    with pytest.raises(DataError, match="mixed: a folder of class folders, but its name 'mixed' is not a split"):
        read(tmp_path / "mixed")
    (tmp_path / "empty" / "train" / "sad").mkdir(parents=True)
    with pytest.raises(DataError, match="train: an empty split folder"):
        read(tmp_path / "empty")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="nothing: no images found; expected <split>/<class>/<image>"):
        read(tmp_path / "nothing")


def test_an_empty_split_folder_is_an_error(tmp_path):
    root = make_folders(tmp_path / "faces")
    (root / "val" / "sad").mkdir(parents=True)
    with pytest.raises(DataError, match=r"faces/val: an empty split folder"):
        read(root)
    (root / "val" / "sad").rmdir()
    with pytest.raises(DataError, match=r"faces/val: an empty split folder"):
        read(root)


def test_every_file_in_a_class_folder_is_read_or_reported(tmp_path):
    root = make_folders(tmp_path / "faces")
    Image.fromarray(PIXELS[0].reshape(48, 48)).save(root / "train" / "angry" / "f.gif")
    (root / "train" / "Happy" / "notes.txt").write_text("stray")
    (root / "test" / "3" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError) as error:
        read(root)
    message = str(error.value)
    assert message.startswith(f"{root}: 3 files are not readable images") and "--skip-unreadable" in message
    assert "train/angry/f.gif: unsupported file type '.gif'" in message
    assert "train/Happy/notes.txt: unsupported file type '.txt'" in message
    assert "test/3/broken.png: unreadable image" in message and "\n" not in message
    arrays = read(root, skip_unreadable=True)
    assert len(arrays["x"]) == 5 and "test/3/broken.png" not in arrays["paths"] and len(arrays["skipped"]) == 3
    [warning] = imagefolders.load_warnings(root, arrays)
    assert warning.startswith(f"{root}: skipped 3 files that are not readable images (skip_unreadable=True): ")
    for name in ("f.gif", "notes.txt", "broken.png"):
        assert name in warning


def test_a_folder_without_a_readable_image_is_refused(tmp_path):
    (tmp_path / "faces" / "train").mkdir(parents=True)
    (tmp_path / "faces" / "train" / "notes.txt").write_text("stray")
    with pytest.raises(DataError, match=r"faces: none of its 1 file is a readable image: train/notes\.txt: "
                                        "unsupported file type '.txt'"):
        read(tmp_path / "faces", skip_unreadable=True)
