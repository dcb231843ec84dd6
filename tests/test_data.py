"""Tests for fer_utils.data on tiny hand-made files: load (the public entry: forms, cache, warnings), datasets
and splits. The readers' own behaviour (parsing and its line-numbered errors, folder layouts) is tested in
test_csvfile and test_imagefolders."""

import dataclasses
import hashlib
import warnings

import numpy as np
import pytest

from datafiles import LABELS, PIXELS, USAGE, fer2013_csv, pixel_text, save_image, write

from fer_utils import CLASS_NAMES, csvfile, data, imagefolders

def load(path, tmp_path, **options):
    return data.load(path, cache_dir=tmp_path / "cache", progress=False, **options)


def make_folders(root):
    """train/{angry,Happy}, test/{3,angry}, unlabeled private_test/: seven 48x48 images."""
    save_image(root / "train" / "angry" / "a.png", PIXELS[0].reshape(48, 48))
    save_image(root / "train" / "angry" / "b.png", PIXELS[1].reshape(48, 48))
    save_image(root / "train" / "Happy" / "c.png", PIXELS[2].reshape(48, 48))
    save_image(root / "test" / "3" / "d.png", PIXELS[3].reshape(48, 48))
    save_image(root / "test" / "angry" / "e.png", PIXELS[4].reshape(48, 48))
    for name in ("z.png", "y.jpg"):
        save_image(root / "private_test" / name, PIXELS[2].reshape(48, 48))
    return root


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
def test_ml2017_test_loads_as_an_unlabeled_dataset(tmp_path, gz):
    rows = [f"{i},{pixel_text(x)}" for i, x in zip([7, 3, 100], PIXELS)]
    dataset = load(write(tmp_path / "test.csv", "id,feature\n" + "\n".join(rows) + "\n\n", gz), tmp_path)
    assert dataset.form == "ml2017-test" and not dataset.labeled
    assert dataset.ids.tolist() == [7, 3, 100] and dataset.y.tolist() == [-1, -1, -1]
    assert dataset.usages == ["Test"]
    counts = dataset.counts()
    assert counts.loc["Test", "unlabeled"] == 3 and counts.loc["all", "total"] == 3


def test_image_folders_load_as_a_dataset(tmp_path):
    root = make_folders(tmp_path / "faces")
    dataset = load(root, tmp_path)
    assert dataset.form == "folders" and dataset.source == str(root) and len(dataset.content_hash) == 64
    assert dataset.usages == ["Training", "PrivateTest", "Test"] and dataset.y.tolist() == [0, 0, 3, -1, -1, 0, 3]
    assert dataset.paths.tolist() == ["train/angry/a.png", "train/angry/b.png", "train/Happy/c.png",
                                      "private_test/y.jpg", "private_test/z.png", "test/angry/e.png", "test/3/d.png"]
    np.testing.assert_array_equal(dataset.x[0, :, :, 0], PIXELS[0].reshape(48, 48))
    assert dataset.subset([4, 0]).paths.tolist() == ["private_test/z.png", "train/angry/a.png"]
    assert load(root, tmp_path).paths.tolist() == dataset.paths.tolist()  # from the cache
    alone = load(root / "private_test", tmp_path)
    assert alone.usages == ["PrivateTest"] and alone.paths.tolist() == ["y.jpg", "z.png"] and not alone.labeled
    csv = load(fer2013_csv(tmp_path / "fer2013.csv"), tmp_path)
    assert csv.paths.tolist() == [""] * 5 and data.combine([alone, csv]).paths.tolist() == ["y.jpg", "z.png"] + [""] * 5
    assert synthetic().subset([0, 1]).paths.tolist() == ["", ""]  # constructed without paths


def test_folder_progress_bars_go_to_stderr(tmp_path, capsys):
    data.load(make_folders(tmp_path / "faces"), cache=False, progress=True)
    assert "image" in capsys.readouterr().err


def test_missing_path(tmp_path):
    with pytest.raises(data.DataError, match="nowhere.csv: no such file"):
        load(tmp_path / "nowhere.csv", tmp_path)


# ------------------------------------------------------------------------------------- warnings and cache


def test_resizing_warns_once_and_its_cache_does_not_hide_the_refusal(tmp_path):
    root = make_folders(tmp_path / "faces")
    big = save_image(root / "train" / "sad" / "big.png", np.zeros((60, 50)))
    with pytest.raises(data.DataError, match=r"big\.png: image is 50x60 pixels.*--resize \(resize=True\)"):
        load(root, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load(root, tmp_path, resize=True)
    assert len(caught) == 1 and "resized 1 images" in str(caught[0].message) and str(big) in str(caught[0].message)
    assert caught[0].filename == __file__, "the warning points at the caller of load"
    assert dataset.x.shape == (8, 48, 48, 1) and dataset.y.tolist().count(4) == 1
    with pytest.raises(data.DataError, match="resize=True"):  # the resized cache does not hide the refusal
        load(root, tmp_path)


def test_skipped_files_warn_on_every_load_and_their_cache_does_not_hide_them(tmp_path):
    root = make_folders(tmp_path / "faces")
    (root / "train" / "Happy" / "notes.txt").write_text("stray")
    (root / "test" / "3" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(data.DataError, match="2 files are not readable images"):
        load(root, tmp_path)
    for attempt in range(2):  # decoded, then from the cache: the warning is given again
        with pytest.warns(UserWarning, match=r"skipped 2 files.*notes\.txt.*broken\.png"):
            dataset = load(root, tmp_path, skip_unreadable=True)
        assert len(dataset) == 7 and "test/3/broken.png" not in dataset.paths
    with pytest.raises(data.DataError, match="2 files are not readable"):  # the cache does not hide them
        load(root, tmp_path)


def test_cache_hit_and_invalidation(tmp_path, monkeypatch):
    path = fer2013_csv(tmp_path / "fer2013.csv")
    first = load(path, tmp_path)
    assert [file.name for file in (tmp_path / "cache").iterdir()] == [f"fer2013-{first.content_hash}.npz"]
    parse = csvfile.parse
    monkeypatch.setattr(csvfile, "parse", lambda *args: pytest.fail("parsed although cached"))
    second = load(path, tmp_path)
    for name in ("x", "y", "usage", "ids"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    calls = []
    monkeypatch.setattr(csvfile, "parse", lambda *args: calls.append(args) or parse(*args))
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
    monkeypatch.setattr(imagefolders, "read", lambda *args: pytest.fail("decoded although cached"))
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


def test_train_val_rows_are_disjoint_stratified_seeded_and_keep_duplicates_in_train():
    dataset = synthetic()
    y = dataset.y.copy()
    unlabeled = np.flatnonzero(dataset.usage == "Training")[::50]
    y[unlabeled] = -1  # unlabeled Training rows are in neither part
    dataset = dataclasses.replace(dataset, y=y)
    labeled_training = np.flatnonzero((dataset.usage == "Training") & (dataset.y >= 0))
    train_rows, val_rows = data.train_val_rows(dataset, 0.2, seed=1)
    assert train_rows.dtype == val_rows.dtype == np.int64
    assert list(train_rows) == sorted(train_rows) and list(val_rows) == sorted(val_rows)
    assert not set(train_rows) & set(val_rows) and sorted([*train_rows, *val_rows]) == list(labeled_training)
    expected = np.round(0.2 * np.bincount(dataset.y[labeled_training], minlength=7))
    np.testing.assert_allclose(np.bincount(dataset.y[val_rows], minlength=7), expected, atol=1)  # stratified
    again, other = data.train_val_rows(dataset, 0.2, seed=1), data.train_val_rows(dataset, 0.2, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train_rows, val_rows)))
    assert not np.array_equal(other[1], val_rows)
    train, val = data.train_val_split(dataset, 0.2, seed=1)  # the same rows as Datasets
    assert train.ids.tolist() == dataset.ids[train_rows].tolist() and val.ids.tolist() == dataset.ids[val_rows].tolist()
    # five validation faces get a pixel-identical copy in train: the same draw now keeps them in train
    x = dataset.x.copy()
    x[train_rows[:5]] = x[val_rows[:5]]
    copied_train, copied_val = data.train_val_rows(dataclasses.replace(dataset, x=x), 0.2, seed=1)
    assert copied_val.tolist() == val_rows[5:].tolist()
    assert copied_train.tolist() == sorted([*train_rows, *val_rows[:5]])


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
    train_rows, val_rows = data.train_val_rows(dataset, 0.1, seed=0)
    assert parts["val"].ids.tolist() == val_rows.tolist() and parts["train"].ids.tolist() == train_rows.tolist()
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
    assert data.subsample_rows(dataset, 86, seed=3).tolist() == small.ids.tolist()  # synthetic ids are row numbers
    assert data.subsample_rows(dataset, 10_000).tolist() == list(range(len(dataset)))
    with pytest.raises(ValueError, match="21"):
        data.subsample(dataset, 20)


# ---------------------------------------------------------------------------------------------- paths


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
