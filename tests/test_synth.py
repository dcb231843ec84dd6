"""Tests for fer_utils.synth: shapes, determinism, FER2013 proportions, csv form, where expressions live."""

import csv
import gzip

import numpy as np
import pytest

from fer_utils import CLASS_NAMES, data, paths, provenance, synth

HAPPY, NEUTRAL = CLASS_NAMES.index("happy"), CLASS_NAMES.index("neutral")


@pytest.fixture(scope="module")
def faces():
    """2,000 faces (seed 3) with their parameters, shared by the statistical tests."""
    return synth.generate_with_params(2000, seed=3)


def test_generate_shapes_dtypes_and_every_class():
    x, y = synth.generate(70, seed=0, progress=False)
    assert x.shape == (70, 48, 48) and x.dtype == np.uint8
    assert y.shape == (70,) and y.dtype == np.int64
    assert set(y.tolist()) == set(range(7))  # disgust too, even at n = 70
    assert x.min() < 60 and x.max() > 180  # a full gray range, not a washed-out image


def test_same_seed_is_bit_identical_and_other_seeds_differ():
    x1, y1 = synth.generate(40, seed=5, progress=False)
    x2, y2 = synth.generate(40, seed=5, progress=False)
    x3, _ = synth.generate(40, seed=6, progress=False)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_output_does_not_depend_on_batch_size_or_threads():
    reference, labels, _ = synth.generate_with_params(50, seed=2, batch_size=50, workers=1)
    for batch_size, workers in ((7, 2), (16, 1), (1000, 2)):
        images, same_labels, _ = synth.generate_with_params(50, 2, batch_size=batch_size, workers=workers)
        assert np.array_equal(images, reference) and np.array_equal(same_labels, labels)


def test_class_counts_follow_fer2013(faces):
    _, y, _ = faces
    counts = np.bincount(y, minlength=7)
    expected = np.array(synth.FER2013_CLASS_COUNTS) / sum(synth.FER2013_CLASS_COUNTS) * len(y)
    assert np.all(np.abs(counts - expected) <= 1)
    assert counts.argmin() == CLASS_NAMES.index("disgust") and 30 <= counts.min() <= 31  # 2000 * 547 / 35887
    assert np.array_equal(synth._class_counts(35887), synth.FER2013_CLASS_COUNTS)


def test_params_carry_intensity_and_the_prototype_action_units(faces):
    _, y, params = faces
    assert params["intensity"].shape == (2000,)
    assert np.all(params["intensity"][y == NEUTRAL] == 0)
    assert np.all((params["intensity"][y != NEUTRAL] >= 0) & (params["intensity"][y != NEUTRAL] <= 1))
    for name in CLASS_NAMES[:-1]:
        chosen = y == CLASS_NAMES.index(name)
        for unit, (_, probability) in synth.CLASS_ACTION_UNITS[name].items():
            if probability >= 0.75:  # a core unit of the prototype: clearly stronger than in neutral faces
                strength = params[f"au{unit}"]
                assert strength[chosen].mean() > strength[y == NEUTRAL].mean() + 0.2, (name, unit)


def _region_mask(name):
    row0, row1, col0, col1 = synth.AU_REGIONS[name]
    mask = np.zeros((48, 48), bool)
    mask[row0:row1, col0:col1] = True
    return mask


def test_mean_happy_minus_neutral_lives_in_the_mouth_not_outside_the_face(faces):
    x, y, _ = faces
    x = x.astype(np.float64)  # standardised per face: exposure and contrast vary as widely as in FER2013
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)

    def difference(labels):  # (48, 48) |mean happy - mean neutral|
        return np.abs(x[labels == HAPPY].mean(axis=0) - x[labels == NEUTRAL].mean(axis=0))

    # the same statistic with the happy/neutral labels shuffled: what sampling noise alone gives
    pool, rng = np.flatnonzero((y == HAPPY) | (y == NEUTRAL)), np.random.default_rng(0)

    def shuffled():
        labels = y.copy()
        labels[pool] = rng.permutation(y[pool])
        return labels

    null = np.mean([difference(shuffled()) for _ in range(5)], axis=0)
    actual = difference(y)
    mouth, face = _region_mask("mouth"), _region_mask("face")
    assert actual[mouth].mean() > 2.5 * null[mouth].mean()  # the expression shows in the mouth ...
    assert actual[mouth].mean() > 1.5 * actual[face & ~mouth].mean()  # ... more than elsewhere on the face
    assert actual[~face].mean() < 1.5 * null[~face].mean()  # and not outside it beyond chance


def _unposed(params, **action_units):
    """A copy of ``params`` without pose, occlusion and noise, with the given AU strengths (others 0)."""
    clean = {name: np.array(value, copy=True) for name, value in params.items()}
    for name, value in (("rotation", 0), ("shift_row", 0), ("shift_col", 0), ("yaw", 0), ("scale", 1),
                        ("occlusion", 0), ("noise_sigma", 0), ("light_strength", 0), ("blur_sigma", 0.3),
                        ("head_grain", 0), ("gamma", 1)):
        clean[name][:] = value
    for unit in synth.ACTION_UNITS:
        clean[f"au{unit}"][:] = action_units.get(f"au{unit}", 0.0)
    return clean


@pytest.mark.parametrize("action_units, region", [
    ({"au12": 1.0}, "mouth"),  # lip-corner puller
    ({"au15": 1.0}, "mouth"),  # lip-corner depressor
    ({"au1": 1.0, "au2": 1.0}, "brows"),  # brow raisers
    ({"au5": 1.0}, "eyes"),  # upper-lid raiser
])
def test_each_action_unit_changes_its_own_region(faces, action_units, region):
    _, _, params = faces
    subset = {name: value[:32] for name, value in params.items()}
    rest = synth.render(_unposed(subset), seed=3).astype(np.float64)  # (32, 48, 48)
    moved = synth.render(_unposed(subset, **action_units), seed=3).astype(np.float64)
    change = np.abs(moved - rest).sum(axis=0)  # (48, 48), summed over the faces
    assert change[_region_mask(region)].sum() > 0.6 * change.sum()
    assert change[~_region_mask("face")].sum() == 0  # nothing changes outside the face


def test_usage_split_is_exact_and_stratified(faces):
    _, y, _ = faces
    usage = synth.usage_split(y, seed=0)
    totals = {name: int((usage == name).sum()) for name in synth.FER2013_USAGE_COUNTS}
    assert totals == {"Training": 1600, "PublicTest": 200, "PrivateTest": 200}
    for label in range(7):
        share = (usage[y == label] == "PublicTest").mean()
        assert abs(share - 0.1) <= 1.0 / (y == label).sum() + 1e-9
    assert np.array_equal(synth.usage_split(y, seed=0), usage)


def _kaggle_order(usage):
    """Row order of the written csv: Training, PublicTest, PrivateTest, each in generation order."""
    rank = np.array([list(synth.FER2013_USAGE_COUNTS).index(name) for name in usage])
    return np.argsort(rank, kind="stable")


def test_write_csv_kaggle_form(tmp_path):
    path = synth.write_csv(tmp_path / "faces.csv", n=100, seed=4, progress=False)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["emotion", "pixels", "Usage"]
    body = rows[1:]
    assert len(body) == 100 and all(len(row[1].split(" ")) == 2304 for row in body)
    usages = [row[2] for row in body]
    assert usages == sorted(usages, key=list(synth.FER2013_USAGE_COUNTS).index)  # Kaggle's row order
    assert {name: usages.count(name) for name in set(usages)} == {"Training": 80, "PublicTest": 10,
                                                                  "PrivateTest": 10}
    x, y = synth.generate(100, seed=4, progress=False)
    written = np.array([row[1].split(" ") for row in body], dtype=np.uint8).reshape(-1, 48, 48)
    order = _kaggle_order(synth.usage_split(y, seed=4))
    assert np.array_equal(written, x[order])
    assert [int(row[0]) for row in body] == y[order].tolist()


def test_write_csv_default_path_is_gzipped_atomic_and_reproducible(tmp_path, monkeypatch):
    target = tmp_path / "nested" / "fer2013.csv.gz"
    monkeypatch.setattr(paths, "SYNTHETIC_CSV", target)
    assert synth.write_csv(n=30, seed=1, progress=False) == target
    first = target.read_bytes()
    with gzip.open(target, "rt") as handle:
        assert handle.readline() == "emotion,pixels,Usage\n"
        assert sum(1 for _ in handle) == 30
    synth.write_csv(n=30, seed=1, progress=False)
    assert target.read_bytes() == first  # same bytes (gzip mtime fixed)
    # no temporary left behind; the sidecar marks the file as generated, with its seed and hash
    assert sorted(p.name for p in target.parent.iterdir()) == ["fer2013.csv.gz", "fer2013.csv.gz.origin.json"]
    origin = provenance.data_origin(target)
    assert origin["kind"] == "synthetic" and (origin["seed"], origin["rows"]) == (1, 30)
    target.write_bytes(first[:-8])  # a changed file no longer matches its sidecar: it is the user's data
    assert provenance.data_origin(target)["kind"] == "file"


def test_csv_round_trips_through_the_loader(tmp_path):
    path = synth.write_csv(tmp_path / "fer2013.csv.gz", n=60, seed=2, progress=False)
    dataset = data.load(path, cache_dir=tmp_path / "cache", progress=False)
    x, y = synth.generate(60, seed=2, progress=False)
    usage = synth.usage_split(y, seed=2)
    order = _kaggle_order(usage)
    assert np.array_equal(dataset.x[..., 0], x[order])
    assert np.array_equal(dataset.y, y[order])
    assert list(dataset.usage) == list(usage[order])


@pytest.mark.parametrize("n, seed", [(6, 0), (0, 0), (10.5, 0), (10, -1)])
def test_bad_arguments_raise_value_error(n, seed):
    with pytest.raises(ValueError, match="n must be|seed must be"):
        synth.generate(n, seed, progress=False)
    with pytest.raises(ValueError, match="n must be|seed must be"):
        synth.write_csv("unused.csv", n=n, seed=seed, progress=False)


def test_progress_false_is_silent(capsys):
    synth.generate(20, seed=0, progress=False)
    assert capsys.readouterr().err == ""
