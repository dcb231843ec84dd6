"""Tests for fer_utils.data on tiny hand-made files: the three forms, exact errors, cache, splits."""

import dataclasses
import gzip
import hashlib
import warnings

import numpy as np
import pytest
from PIL import Image

from fer_utils import CLASS_NAMES, data

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


def load(path, tmp_path, **options):
    return data.load(path, cache_dir=tmp_path / "cache", progress=False, **options)


def save_image(path, array, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode).save(path)
    return path


# ------------------------------------------------------------------------------------------- reading forms


@pytest.mark.parametrize("gz", [False, True])
def test_fer2013_round_trips_exactly(tmp_path, gz):
    path = fer2013_csv(tmp_path / ("fer2013.csv.gz" if gz else "fer2013.csv"), gz)
    dataset = load(path, tmp_path)
    assert dataset.form == "fer2013" and len(dataset) == 5 and dataset.labeled
    assert dataset.x.shape == (5, 48, 48, 1) and dataset.x.dtype == np.uint8
    np.testing.assert_array_equal(dataset.x.reshape(5, -1), PIXELS)
    assert dataset.y.dtype == np.int64 and dataset.y.tolist() == LABELS.tolist()
    assert dataset.usage.tolist() == USAGE.tolist() and dataset.ids.tolist() == [0, 1, 2, 3, 4]
    assert dataset.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset.source == str(path) and dataset.usages == ["Training", "PublicTest", "PrivateTest"]


@pytest.mark.parametrize("gz", [False, True])
def test_ml2017_train_with_crlf_quotes_and_no_final_newline(tmp_path, gz):
    rows = [f'{y},"{pixel_text(x)}"' for x, y in zip(PIXELS, LABELS)]
    path = write(tmp_path / "train.csv", "label,feature\r\n" + "\r\n".join(rows), gz)
    dataset = load(path, tmp_path)
    assert dataset.form == "ml2017-train" and set(dataset.usage) == {"Training"}
    np.testing.assert_array_equal(dataset.x.reshape(5, -1), PIXELS)
    assert dataset.y.tolist() == LABELS.tolist()


@pytest.mark.parametrize("gz", [False, True])
def test_ml2017_test_is_unlabeled_with_ids_from_the_file(tmp_path, gz):
    rows = [f"{i},{pixel_text(x)}" for i, x in zip([7, 3, 100], PIXELS)]
    dataset = load(write(tmp_path / "test.csv", "id,feature\n" + "\n".join(rows) + "\n\n", gz), tmp_path)
    assert dataset.form == "ml2017-test" and not dataset.labeled
    assert dataset.ids.tolist() == [7, 3, 100] and dataset.y.tolist() == [-1, -1, -1]
    assert dataset.usages == ["Test"]
    counts = dataset.counts()
    assert counts.loc["Test", "unlabeled"] == 3 and counts.loc["all", "total"] == 3


def test_columns_in_any_order_and_case(tmp_path):
    rows = [f"{u},{y},{pixel_text(x)}" for x, y, u in zip(PIXELS, LABELS, USAGE)]
    dataset = load(write(tmp_path / "f.csv", "usage,Emotion,PIXELS\n" + "\n".join(rows)), tmp_path)
    np.testing.assert_array_equal(dataset.x.reshape(5, -1), PIXELS)
    assert dataset.usage.tolist() == USAGE.tolist()


def test_small_chunks_parse_the_same_and_keep_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_CHUNK_BYTES", 100)  # every line its own chunk
    rows = [f"{y},{pixel_text(x)}" for x, y in zip(PIXELS, LABELS)] * 3
    dataset = load(ml2017_train_csv(tmp_path / "train.csv.gz", True, rows), tmp_path, cache=False)
    np.testing.assert_array_equal(dataset.x.reshape(15, -1), np.tile(PIXELS, (3, 1)))
    rows[11] = rows[11].replace(" 255 ", " 256 ", 1)
    with pytest.raises(data.DataError, match=r"train\.csv\.gz, line 13: .*'256'"):
        load(ml2017_train_csv(tmp_path / "train.csv.gz", True, rows), tmp_path, cache=False)
    rows[4] = "9" + rows[4][1:]  # chunks are parsed in parallel: the first bad line of the file is still the one named
    with pytest.raises(data.DataError, match=r"train\.csv\.gz, line 6: label '9'"):
        load(ml2017_train_csv(tmp_path / "train.csv.gz", True, rows), tmp_path, cache=False)


def make_folders(root):
    """train/{angry,Happy}, test/{3}: five 48x48 PNGs, one of them RGB."""
    save_image(root / "train" / "angry" / "a.png", PIXELS[0].reshape(48, 48))
    save_image(root / "train" / "angry" / "b.png", PIXELS[1].reshape(48, 48))
    rgb = np.stack([PIXELS[1].reshape(48, 48), PIXELS[4].reshape(48, 48), PIXELS[0].reshape(48, 48)], axis=-1)
    save_image(root / "train" / "Happy" / "c.png", rgb, "RGB")
    save_image(root / "test" / "3" / "d.png", PIXELS[3].reshape(48, 48))
    save_image(root / "test" / "angry" / "e.png", PIXELS[4].reshape(48, 48))
    (root / "train" / "README.txt").write_text("not an image")
    return root


def test_image_folders(tmp_path, capsys):
    root = make_folders(tmp_path / "faces")
    dataset = load(root, tmp_path)
    assert dataset.form == "folders" and len(dataset) == 5 and capsys.readouterr().err == ""
    assert dataset.usage.tolist() == ["Training"] * 3 + ["Test"] * 2
    assert dataset.y.tolist() == [0, 0, 3, 0, 3] and dataset.ids.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(dataset.x[0, :, :, 0], PIXELS[0].reshape(48, 48))
    gray = np.asarray(Image.open(root / "train" / "Happy" / "c.png").convert("L"))
    np.testing.assert_array_equal(dataset.x[2, :, :, 0], gray)
    one_split = load(root / "test", tmp_path, cache=False)
    assert one_split.usages == ["Test"] and one_split.y.tolist() == [0, 3]


def test_folder_progress_bar_goes_to_stderr(tmp_path, capsys):
    data.load(make_folders(tmp_path / "faces"), cache=False, progress=True)
    assert "image" in capsys.readouterr().err


def test_wrong_size_is_refused_unless_resize(tmp_path):
    root = make_folders(tmp_path / "faces")
    big = save_image(root / "train" / "sad" / "big.png", np.zeros((60, 50)))
    with pytest.raises(data.DataError, match=r"big\.png: image is 50x60 pixels.*--resize \(resize=True\)"):
        load(root, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load(root, tmp_path, resize=True)
    assert len(caught) == 1 and "resized 1 images" in str(caught[0].message) and str(big) in str(caught[0].message)
    assert dataset.x.shape == (6, 48, 48, 1) and dataset.y.tolist().count(4) == 1
    with pytest.raises(data.DataError, match="resize=True"):  # the resized cache does not hide the refusal
        load(root, tmp_path)


# ------------------------------------------------------------------------------------------ bad input


def row(label=3, pixels=None, sep=" "):
    return f"{label},{sep.join(map(str, PIXELS[0] if pixels is None else pixels))}"


BAD_TRAIN_ROWS = [  # (rows of an ML2017 train.csv, expected line, expected text)
    ([row(), row(pixels=PIXELS[0][:-1])], 3, "found 2303 values in feature, expected 2304"),
    ([row(pixels=list(PIXELS[0]) + [1])], 2, "found 2305 values"),
    ([row(), row(), row(pixels=["256"] + list(PIXELS[0][1:]))], 4, "feature value 1 is '256'"),
    ([row(pixels=list(PIXELS[0][:9]) + ["-1"] + list(PIXELS[0][10:]))], 2, "feature value 10 is '-1'"),
    ([row(pixels=list(PIXELS[0][:-1]) + ["1.5"])], 2, "feature value 2304 is '1.5'"),
    ([row(), row(pixels=["abc"] + list(PIXELS[0][1:]))], 3, "'abc', expected an integer 0-255"),
    ([row(pixels=["0012"] + list(PIXELS[0][1:]))], 2, "'0012'"),
    ([row(), "4,"], 3, "found 0 values"),
    ([row(), row(label=7)], 3, "label '7' is not a class index 0-6"),
    ([row(label="x")], 2, "label 'x'"),
    ([row(), "", row()], 3, "found an empty line, expected 2 comma-separated fields (label,feature)"),
    ([row(), row() + ",Training"], 3, "found 3 fields"),
    ([row(), row(label=9), row(pixels=[1])], 3, "label '9'"),  # the first bad line wins
]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("rows, line, expected", BAD_TRAIN_ROWS)
def test_bad_rows_name_file_line_and_token(tmp_path, rows, line, expected, gz):
    path = ml2017_train_csv(tmp_path / "train.csv", gz, rows)
    with pytest.raises(data.DataError) as error:
        load(path, tmp_path)
    assert str(error.value).startswith(f"{path}, line {line}: ") and expected in str(error.value)


@pytest.mark.parametrize("text, expected", [
    ("", "line 1: the file is empty"),
    ("label,feature\n", "line 2: no data rows after the header 'label,feature'"),
    ("emotion,pixel,Usage\n", "line 1: unrecognised header 'emotion,pixel,Usage': missing column 'pixels' "
                              "(is 'pixel' a typo?); expected one of 'emotion,pixels,Usage' (Kaggle fer2013.csv)"),
    ("lable,feature\n", "missing column 'label' (is 'lable' a typo?)"),
    ("0,1 2 3\n", "line 1: unrecognised header '0,1 2 3': no known column names (is the header missing?)"),
    ("emotion,pixels,Usage\n" + row() + ",Train\n", "line 2: Usage 'Train' is not one of Training, PublicTest"),
    ("id,feature\n1," + pixel_text(PIXELS[0]) + "\n2,1\n", "line 3: found 1 values"),
    ("id,feature\n" + "".join(f"{i},{pixel_text(PIXELS[0])}\n" for i in [4, 5, 4]),
     "line 4: id 4 repeats the id of line 2"),
    ("id,feature\n-3," + pixel_text(PIXELS[0]) + "\n", "line 2: id '-3' is not a non-negative integer"),
])
def test_bad_files(tmp_path, text, expected):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(data.DataError, match=r"bad\.csv") as error:
        load(path, tmp_path)
    assert expected in str(error.value)


def test_gzip_members_truncation_and_corruption(tmp_path):
    text = ml2017_train_csv(tmp_path / "t.csv").read_bytes()
    lines = text.splitlines(keepends=True)
    path = tmp_path / "train.csv.gz"
    path.write_bytes(gzip.compress(b"".join(lines[:3])) + gzip.compress(b"".join(lines[3:])))  # two members
    np.testing.assert_array_equal(load(path, tmp_path).x.reshape(5, -1), PIXELS)
    path.write_bytes(gzip.compress(text)[:-30])
    with pytest.raises(data.DataError, match=r"train\.csv\.gz: the gzip data is truncated"):
        load(path, tmp_path)
    path.write_bytes(gzip.compress(text)[:200] + b"x" * 5000)
    with pytest.raises(data.DataError, match=r"train\.csv\.gz: corrupt gzip data"):
        load(path, tmp_path)


def test_missing_path_and_zip(tmp_path):
    with pytest.raises(data.DataError, match="nowhere.csv: no such file"):
        load(tmp_path / "nowhere.csv", tmp_path)
    with pytest.raises(data.DataError, match="zip archive"):
        load(write(tmp_path / "f.zip", "PK\x03\x04junk"), tmp_path)


def test_bad_folders(tmp_path):
    root = make_folders(tmp_path / "faces")
    (root / "train" / "angry" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(data.DataError, match=r"broken\.png: unreadable image"):
        load(root, tmp_path)
    (root / "train" / "angry" / "broken.png").unlink()
    save_image(root / "train" / "angery" / "x.png", np.zeros((48, 48)))
    with pytest.raises(data.DataError, match="angery: unknown class folder 'angery'"):
        load(root, tmp_path)
    (root / "train" / "angery" / "x.png").rename(root / "train" / "x.png")
    (root / "train" / "angery").rmdir()
    with pytest.raises(data.DataError, match=r"x\.png: an image outside a class folder"):
        load(root, tmp_path)
    (root / "holdout").mkdir()
    with pytest.raises(data.DataError, match="holdout: unknown split folder"):
        load(root, tmp_path)
    (root / "test").rename(tmp_path / "mixed")
    with pytest.raises(data.DataError, match="mixed: a folder of class folders, but its name 'mixed' is not a split"):
        load(tmp_path / "mixed", tmp_path)
    (tmp_path / "empty" / "train" / "sad").mkdir(parents=True)
    with pytest.raises(data.DataError, match="train: an empty split folder"):
        load(tmp_path / "empty", tmp_path)


# ----------------------------------------------------------------------------------------------- cache


def test_cache_hit_and_invalidation(tmp_path, monkeypatch):
    path = fer2013_csv(tmp_path / "fer2013.csv")
    first = load(path, tmp_path)
    assert [file.name for file in (tmp_path / "cache").iterdir()] == [f"fer2013-{first.content_hash}.npz"]
    parse = data._parse_csv
    monkeypatch.setattr(data, "_parse_csv", lambda *args: pytest.fail("parsed although cached"))
    second = load(path, tmp_path)
    for name in ("x", "y", "usage", "ids"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    calls = []
    monkeypatch.setattr(data, "_parse_csv", lambda *args: calls.append(args) or parse(*args))
    fer2013_csv(path, rows=[f"5,{pixel_text(PIXELS[2])},Training"])
    changed = load(path, tmp_path)
    assert len(calls) == 1 and changed.y.tolist() == [5] and len(list((tmp_path / "cache").iterdir())) == 2
    load(path, tmp_path, cache=False)
    assert len(calls) == 2


def test_corrupt_cache_is_ignored_and_rewritten(tmp_path):
    path = fer2013_csv(tmp_path / "fer2013.csv")
    first = load(path, tmp_path)
    cache_file = tmp_path / "cache" / f"fer2013-{first.content_hash}.npz"
    cache_file.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache"):
        again = load(path, tmp_path)
    np.testing.assert_array_equal(again.x, first.x)
    assert cache_file.stat().st_size > 1000 and not list((tmp_path / "cache").glob("*.tmp"))


def test_folder_cache_hit(tmp_path, monkeypatch):
    root = make_folders(tmp_path / "faces")
    first = load(root, tmp_path)
    monkeypatch.setattr(data, "_read_images", lambda *args: pytest.fail("decoded although cached"))
    np.testing.assert_array_equal(load(root, tmp_path).x, first.x)


# ------------------------------------------------------------------------------------ datasets and splits


def synthetic(n_per_class=(40, 6, 30, 80, 50, 20, 60), usages=("Training", "PublicTest", "PrivateTest")):
    y = np.concatenate([np.full(count, label) for label, count in enumerate(n_per_class) for _ in usages])
    usage = np.concatenate([np.full(count, u) for count in n_per_class for u in usages])
    x = np.zeros((len(y), 48, 48, 1), np.uint8)
    x[:, 0, 0, 0], x[:, 0, 1, 0] = np.arange(len(y)) % 256, np.arange(len(y)) // 256  # every face distinct
    return data.Dataset(x=x, y=y.astype(np.int64), usage=usage,
                        ids=np.arange(len(y)), source="memory", form="fer2013", content_hash="")


def test_dataset_subset_split_and_counts():
    dataset = synthetic()
    assert dataset.usages == ["Training", "PublicTest", "PrivateTest"]
    assert len(dataset.subset(dataset.y == 1)) == 18 and dataset.subset([0, 5]).ids.tolist() == [0, 5]
    assert len(dataset.subset([])) == 0
    with pytest.raises(data.DataError, match="no rows with usage 'Test'; usages present: Training, PublicTest"):
        dataset.split("Test")
    counts = dataset.counts()
    assert list(counts.index) == ["Training", "PublicTest", "PrivateTest", "all"]
    assert list(counts.columns) == list(CLASS_NAMES) + ["total"]
    assert counts.loc["PublicTest", "disgust"] == 6 and counts.loc["all", "total"] == len(dataset)


def test_train_val_split_is_stratified_seeded_disjoint_and_complete():
    dataset = synthetic()
    train, val = data.train_val_split(dataset, 0.2, seed=1)
    training_ids = dataset.ids[dataset.usage == "Training"]
    assert not set(train.ids) & set(val.ids) and sorted([*train.ids, *val.ids]) == sorted(training_ids)
    assert np.bincount(val.y, minlength=7).tolist() == [8, 1, 6, 16, 10, 4, 12]
    again, other = data.train_val_split(dataset, 0.2, seed=1), data.train_val_split(dataset, 0.2, seed=2)
    assert again[1].ids.tolist() == val.ids.tolist() and other[1].ids.tolist() != val.ids.tolist()
    for fraction in (0, 1, 1.5):
        with pytest.raises(ValueError, match="val_fraction"):
            data.train_val_split(dataset, fraction)
    with pytest.raises(data.DataError, match="no labeled Training rows"):
        data.train_val_split(dataset.split("PublicTest"))


def test_duplicates_never_straddle_train_and_validation():
    dataset = synthetic()
    training = np.flatnonzero(dataset.usage == "Training")
    x = dataset.x.copy()
    x[training[1::2]] = x[training[0::2]][: len(training[1::2])]  # every second face copies the one before
    copied = dataclasses.replace(dataset, x=x)
    train, val = data.train_val_split(copied, 0.2, seed=1)
    train_keys = {face.tobytes() for face in train.x}
    assert len(val) > 0 and not any(face.tobytes() in train_keys for face in val.x)
    assert len(train) + len(val) == len(training)
    with pytest.warns(UserWarning, match="pixel-identical copy in train"):
        data.train_val_split(dataclasses.replace(dataset, x=np.zeros_like(x)), 0.2)


def test_splits_keep_the_test_usages_and_refuse_unlabeled(tmp_path):
    dataset = synthetic()
    parts = data.splits(dataset, 0.1, seed=0)
    assert list(parts) == ["train", "val", "PublicTest", "PrivateTest"]
    assert len(parts["train"]) + len(parts["val"]) == 286 and len(parts["PrivateTest"]) == 286
    rows = "".join(f"{i},{pixel_text(PIXELS[0])}\n" for i in range(3))
    unlabeled = load(write(tmp_path / "test.csv", "id,feature\n" + rows), tmp_path)
    with pytest.raises(data.DataError, match="has no labels to train on"):
        data.splits(unlabeled)


def test_subsample_keeps_proportions_and_every_class():
    dataset = synthetic()
    assert data.subsample(dataset, 10_000) is dataset
    small = data.subsample(dataset, 86, seed=3)
    assert len(small) == 86 and small.usages == dataset.usages
    assert (small.counts().loc[["Training", "PublicTest", "PrivateTest"], list(CLASS_NAMES)] >= 1).all().all()
    shares = np.bincount(small.y, minlength=7) / 86
    np.testing.assert_allclose(shares, np.bincount(dataset.y) / len(dataset), atol=0.05)
    assert data.subsample(dataset, 86, seed=3).ids.tolist() == small.ids.tolist()
    with pytest.raises(ValueError, match="21"):
        data.subsample(dataset, 20)


# ------------------------------------------------------------------------------- issue 14: loader faults


@pytest.mark.parametrize("first_bad, expected", [
    (row(pixels=list(PIXELS[0]) + [1]), "found 2305 values"),
    (row(label=9), "label '9'"),
    (row(pixels=["256"] + list(PIXELS[0][1:])), "'256'"),
])
@pytest.mark.parametrize("later_bad", ["0,1,2", "", "7"])
def test_the_first_bad_line_wins_whatever_the_kind_of_error(tmp_path, first_bad, expected, later_bad):
    rows = [row(), first_bad] + [row()] * 20 + [later_bad] + [row()] * 3  # one parse chunk
    path = ml2017_train_csv(tmp_path / "train.csv", rows=rows)
    with pytest.raises(data.DataError, match=r"train\.csv, line 3: ") as error:
        load(path, tmp_path)
    assert expected in str(error.value)


def test_a_repeated_id_before_a_bad_line_is_the_error(tmp_path):
    rows = [f"{i},{pixel_text(PIXELS[0])}" for i in (4, 5, 4, 6)] + ["x," + pixel_text(PIXELS[0])]
    path = write(tmp_path / "test.csv", "id,feature\n" + "\n".join(rows) + "\n")
    with pytest.raises(data.DataError, match=r"test\.csv, line 4: id 4 repeats the id of line 2"):
        load(path, tmp_path)


@pytest.mark.parametrize("text, quoted", [
    ("label,feature\n" + "x" * 1_000_000 + "," + pixel_text(PIXELS[0]) + "\n", "label 'xxx"),
    ("label,feature\n0," + "y" * 1_000_000 + " " + pixel_text(PIXELS[0]) + "\n", "value 1 is 'yyy"),
    ("emotion,pixels,Usage\n0," + pixel_text(PIXELS[0]) + "," + "z" * 1_000_000 + "\n", "Usage 'zzz"),
])
def test_a_huge_bad_field_is_quoted_short(tmp_path, text, quoted):
    with pytest.raises(data.DataError) as error:
        load(write(tmp_path / "big.csv", text), tmp_path)
    message = str(error.value)
    assert len(message) < 400 and quoted in message and "…" in message and "1,000,000 bytes" in message


def test_16_bit_images_are_scaled_to_8_bits(tmp_path):
    values = np.arange(2304).reshape(48, 48) % 256  # every 8-bit value, stored as 16 bits (v * 257)
    path = tmp_path / "faces" / "train" / "happy" / "deep.png"
    path.parent.mkdir(parents=True)
    Image.fromarray((values * 257).astype(np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_array_equal(load(tmp_path / "faces", tmp_path).x[0, :, :, 0], values)


def test_unlabeled_image_folders_and_paths(tmp_path):
    root = make_folders(tmp_path / "faces")
    for name in ("z.png", "y.jpg"):
        save_image(root / "private_test" / name, PIXELS[2].reshape(48, 48))
    dataset = load(root, tmp_path)
    assert dataset.usages == ["Training", "PrivateTest", "Test"] and dataset.y.tolist() == [0, 0, 3, -1, -1, 0, 3]
    assert dataset.paths.tolist() == ["train/angry/a.png", "train/angry/b.png", "train/Happy/c.png",
                                      "private_test/y.jpg", "private_test/z.png", "test/angry/e.png", "test/3/d.png"]
    assert dataset.subset([4, 0]).paths.tolist() == ["private_test/z.png", "train/angry/a.png"]
    assert load(root, tmp_path).paths.tolist() == dataset.paths.tolist()  # from the cache
    alone = load(root / "private_test", tmp_path)
    assert alone.usages == ["PrivateTest"] and alone.paths.tolist() == ["y.jpg", "z.png"] and not alone.labeled
    csv = load(fer2013_csv(tmp_path / "fer2013.csv"), tmp_path)
    assert csv.paths.tolist() == [""] * 5 and data.combine([alone, csv]).paths.tolist() == ["y.jpg", "z.png"] + [""] * 5
    assert synthetic().subset([0, 1]).paths.tolist() == ["", ""]  # constructed without paths


def test_every_file_in_a_class_folder_is_loaded_or_reported(tmp_path):
    root = make_folders(tmp_path / "faces")
    Image.fromarray(PIXELS[0].reshape(48, 48)).save(root / "train" / "angry" / "f.gif")
    (root / "train" / "Happy" / "notes.txt").write_text("stray")
    (root / "test" / "3" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(data.DataError) as error:
        load(root, tmp_path)
    message = str(error.value)
    assert message.startswith(f"{root}: 3 files are not readable images") and "--skip-unreadable" in message
    assert "train/angry/f.gif: unsupported file type '.gif'" in message
    assert "train/Happy/notes.txt: unsupported file type '.txt'" in message
    assert "test/3/broken.png: unreadable image" in message and "\n" not in message
    for attempt in range(2):  # decoded, then from the cache: the warning is given again
        with pytest.warns(UserWarning, match=r"skipped 3 files.*f\.gif.*notes\.txt.*broken\.png"):
            dataset = load(root, tmp_path, skip_unreadable=True)
        assert len(dataset) == 5 and "test/3/broken.png" not in dataset.paths
    with pytest.raises(data.DataError, match="3 files are not readable"):  # the cache does not hide them
        load(root, tmp_path)


def test_an_empty_split_folder_is_an_error(tmp_path):
    root = make_folders(tmp_path / "faces")
    (root / "val" / "sad").mkdir(parents=True)
    with pytest.raises(data.DataError, match=r"faces/val: an empty split folder"):
        load(root, tmp_path)
    (root / "val" / "sad").rmdir()
    with pytest.raises(data.DataError, match=r"faces/val: an empty split folder"):
        load(root, tmp_path)


def test_gzip_trailing_data_is_not_called_truncated(tmp_path):
    text = ml2017_train_csv(tmp_path / "t.csv").read_bytes()
    path = tmp_path / "train.csv.gz"
    for junk in (b"xyz", b"junk" * 100):
        path.write_bytes(gzip.compress(text) + junk)
        with pytest.raises(data.DataError, match=rf"train\.csv\.gz: {len(junk)} bytes of trailing data after the "
                                                 "gzip stream") as error:
            load(path, tmp_path, cache=False)
        assert "truncated" not in str(error.value)


def test_relative_paths_try_the_cwd_then_the_project_root(tmp_path, monkeypatch):
    from fer_utils import paths

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    monkeypatch.chdir(elsewhere)
    in_project = fer2013_csv((project / "data").mkdir(parents=True) or project / "data" / "f.csv")
    assert paths.resolve("data/f.csv") == in_project
    in_cwd = fer2013_csv((elsewhere / "data").mkdir() or elsewhere / "data" / "f.csv")
    assert paths.resolve("data/f.csv") == in_cwd and load("data/f.csv", tmp_path).source == str(in_cwd)
    with pytest.raises(data.DataError) as error:
        load("data/missing.csv", tmp_path)
    assert str(elsewhere / "data" / "missing.csv") in str(error.value)
    assert str(project / "data" / "missing.csv") in str(error.value)
    assert paths.resolve("data/missing.csv") == elsewhere / "data" / "missing.csv"  # a new file goes to the cwd
