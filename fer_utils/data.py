"""Load FER2013 (Kaggle fer2013.csv, ML2017 train.csv/test.csv, image folders; gzipped or not) into one Dataset,
and split it: train/validation rows, the parts to train and evaluate on, stratified subsamples.

The readers are ``fer_utils.csvfile`` (the CSV forms) and ``fer_utils.imagefolders``; ``load`` picks one and
keeps what it read in a cache of parsed arrays (at the end of this module).
"""

import dataclasses
import hashlib
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from fer_utils import CLASS_NAMES, IMAGE_SIZE, apportion, csvfile, imagefolders, paths
from fer_utils.errors import DataError

#: Usage values in their canonical order; "Test" marks ML2017 test.csv rows and a test/ image folder.
USAGES = ("Training", "PublicTest", "PrivateTest", "Test")
_CACHE_VERSION = 2  # 2: image paths, skipped files, 16-bit images scaled


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Faces with labels and usage, whatever form they were read from.

    ``x`` is (N, 48, 48, 1) uint8; ``y`` is (N,) int64 with -1 for unlabeled rows (ML2017 test.csv);
    ``usage`` is (N,) str, one of USAGES; ``ids`` is (N,) int64, the ``id`` column of ML2017 test.csv and
    the 0-based row or file index otherwise. ``content_hash`` is the sha256 of the source bytes. ``paths`` is
    (N,) str: each image's path relative to the loaded folder (posix), "" for rows read from a CSV file.
    """

    x: np.ndarray
    y: np.ndarray
    usage: np.ndarray
    ids: np.ndarray
    source: str
    form: str
    content_hash: str
    paths: np.ndarray = None  # None: "" for every row

    def __post_init__(self):
        if self.paths is None:
            object.__setattr__(self, "paths", np.full(len(self.y), "", "<U1"))
        assert self.x.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 1) and self.x.dtype == np.uint8, self.x.shape
        assert len(self.x) == len(self.y) == len(self.usage) == len(self.ids) == len(self.paths)

    def __len__(self):
        return len(self.y)

    def __repr__(self):
        return (f"Dataset(form={self.form!r}, rows={len(self)}, usages={self.usages}, labeled={self.labeled}, "
                f"source={self.source!r})")

    @property
    def labeled(self):
        """True when every row has a label."""
        return bool(np.all(self.y >= 0))

    @property
    def usages(self):
        """The usages present, in the canonical order of USAGES."""
        present = set(np.unique(self.usage).tolist())
        return [usage for usage in USAGES if usage in present]

    def subset(self, index):
        """The rows an int index array or a bool mask selects, with the same source, form and hash."""
        index = np.asarray(index) if len(index) else np.zeros(0, np.int64)
        if index.dtype == bool and index.shape != (len(self),):
            raise ValueError(f"a bool mask must have shape ({len(self)},), got {index.shape}")
        return dataclasses.replace(self, x=self.x[index], y=self.y[index], usage=self.usage[index],
                                   ids=self.ids[index], paths=self.paths[index])

    def split(self, usage):
        """The rows of one usage; DataError naming the usages present if there are none."""
        mask = self.usage == usage
        if not mask.any():
            raise DataError(f"{self.source}: no rows with usage {usage!r}; usages present: "
                            f"{', '.join(self.usages) or 'none'}")
        return self.subset(mask)

    def counts(self):
        """Rows per usage and class: usages (+ an "all" row) by class names (+ "unlabeled" if any) + "total"."""
        columns = list(CLASS_NAMES) + (["unlabeled"] if (self.y < 0).any() else []) + ["total"]
        rows = {}
        for usage in self.usages:
            labels = self.y[self.usage == usage]
            row = list(np.bincount(labels[labels >= 0], minlength=len(CLASS_NAMES)))
            rows[usage] = row + ([int((labels < 0).sum())] if "unlabeled" in columns else []) + [len(labels)]
        table = pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype=np.int64)
        table.loc["all"] = table.sum()
        table.index.name = "usage"
        return table


def load(path, *, cache=True, cache_dir=None, resize=False, skip_unreadable=False, progress=True):
    """Read FER2013 in any of its three forms, gzipped or not; the form is detected from the content.

    Forms: the Kaggle ``fer2013.csv`` (``emotion,pixels,Usage``), the ML2017 ``train.csv`` (``label,feature``)
    and ``test.csv`` (``id,feature``, unlabeled, usage "Test"), and image folders ``<root>/<split>/<class>/*.png``
    or, unlabeled (label -1), ``<root>/<split>/*.png`` (or one split folder). Every file in a class or unlabeled
    split folder is loaded or reported. Colour images are converted to grayscale with PIL's ``convert("L")``
    (ITU-R 601-2 luma); 16-bit grayscale images are scaled to 8 bits (round(value / 257)).
    Parsed arrays are cached as .npz keyed by form and content hash, so a changed file is parsed again.

    Args:
        path: a CSV file (``.gz`` detected by its magic bytes) or an image folder.
        cache: read and write the parsed-array cache.
        cache_dir: the cache folder (default ``paths.CACHE_DIR``).
        resize: resize images that are not 48x48 (bilinear, with one warning) instead of refusing them.
        skip_unreadable: skip files of an image folder that are not readable images (unsupported types,
            undecodable), with a warning listing them, instead of refusing the folder.
        progress: show tqdm progress bars on stderr.
    Returns:
        A Dataset.
    Raises:
        DataError: a missing path or bad content; the message names the file and line, or the image.
    """
    source = existing_path(path)
    if source.is_dir():
        entries, content_hash = imagefolders.scan(source, progress)
        form = "folders"
    else:
        raw = source.read_bytes()  # (compressed) file bytes
        content_hash = hashlib.sha256(raw).hexdigest()
        form, header = csvfile.read_header(raw, source)
    cache_file = Path(cache_dir or paths.CACHE_DIR) / f"{form}-{content_hash}.npz"
    arrays = _read_cache(cache_file, resize, skip_unreadable) if cache else None
    if arrays is None:
        if form == "folders":
            arrays = imagefolders.read(entries, source, resize, skip_unreadable, progress)
        else:
            arrays = csvfile.parse(raw, source, form, header, progress)
        if cache:
            _write_cache(cache_file, arrays)
    if form == "folders":
        for message in imagefolders.load_warnings(source, arrays):  # again on a cache hit
            warnings.warn(message, stacklevel=2)
    return Dataset(x=arrays["x"], y=arrays["y"], usage=arrays["usage"], ids=arrays["ids"], source=str(source),
                   form=form, content_hash=content_hash, paths=arrays["paths"])


def existing_path(path):
    """The data file or folder a user path names (``paths.resolve``), which must exist.

    Raises:
        DataError: nothing there; for a relative path the message names both places looked at.
    """
    source = paths.resolve(path)
    if not source.exists():
        places = paths.candidates(path)
        looked = "" if len(places) == 1 else (f"; looked for {places[0]} (from the current folder) and "
                                              f"{places[1]} (from the project root)")
        raise DataError(f"{places[0] if len(places) == 1 else path}: no such file or folder{looked}")
    return source


def pixel_keys(x):
    """One opaque, hashable, sortable key per image: equal keys <=> pixel-identical images.

    Args:
        x: (N, 48, 48, 1) uint8 images.
    Returns:
        (N,) numpy void array (use with ``np.unique``).
    """
    flat = np.ascontiguousarray(np.asarray(x).reshape(len(x), -1))
    return flat.view(np.dtype((np.void, flat.shape[1])))[:, 0]


def combine(datasets):
    """One dataset of several sources' rows, in order (e.g. ML2017 train.csv and test.csv, to audit both).

    Args:
        datasets: a list of ``Dataset``.
    Returns:
        A ``Dataset`` whose source joins the sources with " + " and whose hash covers all of them.
    Raises:
        ValueError: an empty list.
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("combine: give at least one dataset")
    if len(datasets) == 1:
        return datasets[0]
    content_hash = hashlib.sha256("".join(d.content_hash for d in datasets).encode()).hexdigest()
    return Dataset(x=np.concatenate([d.x for d in datasets]), y=np.concatenate([d.y for d in datasets]),
                   usage=np.concatenate([d.usage for d in datasets]).astype(str),
                   ids=np.concatenate([d.ids for d in datasets]), source=" + ".join(d.source for d in datasets),
                   form="+".join(d.form for d in datasets), content_hash=content_hash,
                   paths=np.concatenate([d.paths for d in datasets]).astype(str))


def train_val_rows(dataset, val_fraction=0.1, seed=0):
    """The row indices of a train/validation split of the labeled "Training" rows, stratified by class.

    Args:
        dataset: a Dataset with labeled "Training" rows.
        val_fraction: the share of each class that goes to validation, in (0, 1).
        seed: the random seed; the same seed gives the same rows.
    Returns:
        (train rows, val rows): sorted int64 row indices into dataset, disjoint, together every labeled Training
        row. Pixel-identical faces never straddle the two (a duplicate set with a member in train is all in
        train): validation may come out a few rows short.
    Raises:
        DataError: fewer than 2 labeled Training rows. ValueError: val_fraction outside (0, 1).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    training = np.flatnonzero((dataset.usage == "Training") & (dataset.y >= 0))  # (T,) row indices
    if len(training) == 0:
        reason = ("has no labels to train on" if not (dataset.y >= 0).any()
                  else f"has no labeled Training rows (usages present: {', '.join(dataset.usages)})")
        raise DataError(f"{dataset.source}: the {dataset.form} data {reason}; load a labeled training file")
    if len(training) < 2:
        raise DataError(f"{dataset.source}: only {len(training)} labeled Training row; need 2 to split off validation")
    val_count = min(max(round(val_fraction * len(training)), 1), len(training) - 1)
    val = _stratified_pick(dataset.y[training], val_count, np.random.default_rng(seed))
    is_val = np.zeros(len(training), bool)
    is_val[val] = True
    # a face that is pixel-identical to a training face would flatter validation (FER2013 holds ~1,200
    # such copies in Training): a duplicate set with any member in train goes to train entirely
    _, group = np.unique(pixel_keys(dataset.x[training]), return_inverse=True)
    group_in_train = np.bincount(group, weights=~is_val) > 0
    deduplicated = is_val & ~group_in_train[group]
    if deduplicated.any():
        is_val = deduplicated
    else:
        warnings.warn(f"{dataset.source}: every validation face has a pixel-identical copy in train; "
                      "validation accuracy will be optimistic", stacklevel=2)
    return training[~is_val].astype(np.int64), training[is_val].astype(np.int64)


def train_val_split(dataset, val_fraction=0.1, seed=0):
    """The train and validation parts of the labeled "Training" rows (``train_val_rows``).

    Args:
        dataset, val_fraction, seed: as for train_val_rows.
    Returns:
        (train, val) Datasets, disjoint, together holding every labeled Training row, in file order.
    Raises:
        DataError: fewer than 2 labeled Training rows. ValueError: val_fraction outside (0, 1).
    """
    train_rows, val_rows = train_val_rows(dataset, val_fraction, seed)
    return dataset.subset(train_rows), dataset.subset(val_rows)


def splits(dataset, val_fraction=0.1, seed=0):
    """The parts to train and evaluate on: {"train", "val"} from Training, plus each other usage whole.

    Args:
        dataset: a labeled Dataset.
        val_fraction, seed: as for train_val_rows.
    Returns:
        {"train": Dataset, "val": Dataset, "PublicTest": ..., "PrivateTest": ..., "Test": ...} (usages present).
    Raises:
        DataError: no labeled Training rows (e.g. the unlabeled ML2017 test.csv).
    """
    return parts_from_rows(dataset, *train_val_rows(dataset, val_fraction, seed))


def parts_from_rows(dataset, train_rows, val_rows):
    """The parts of a split given by its rows: "train" and "val", then each usage other than Training whole.

    Args:
        dataset: a Dataset.
        train_rows, val_rows: row indices into dataset (``train_val_rows``, or a run's stored split).
    Returns:
        {"train": Dataset, "val": Dataset, "PublicTest": ..., "PrivateTest": ..., "Test": ...} (usages present).
    """
    parts = {"train": dataset.subset(train_rows), "val": dataset.subset(val_rows)}
    parts.update({usage: dataset.split(usage) for usage in dataset.usages if usage != "Training"})
    return parts


def subsample_rows(dataset, n, seed=0):
    """The row indices of a seeded subset of n rows stratified by (usage, class); every non-empty stratum keeps
    at least one row.

    Args:
        dataset: a Dataset.
        n: the number of rows wanted; n >= len(dataset) gives every row.
        seed: the random seed.
    Returns:
        Sorted int64 row indices into dataset, min(n, len) of them.
    Raises:
        ValueError: n smaller than the number of non-empty (usage, class) strata.
    """
    if n >= len(dataset):
        return np.arange(len(dataset), dtype=np.int64)
    usage_index = np.unique(dataset.usage, return_inverse=True)[1]  # (N,)
    strata = usage_index * (len(CLASS_NAMES) + 1) + (dataset.y + 1)  # (N,) one code per (usage, class)
    if n < len(np.unique(strata)):
        raise ValueError(f"n={n} is below the {len(np.unique(strata))} (usage, class) groups present; "
                         "each keeps at least one row")
    return _stratified_pick(strata, n, np.random.default_rng(seed), at_least_one=True).astype(np.int64)


def subsample(dataset, n, seed=0):
    """A seeded subset of n rows stratified by (usage, class): the rows ``subsample_rows`` picks.

    Args:
        dataset, n, seed: as for subsample_rows.
    Returns:
        A Dataset of min(n, len) rows, in file order; dataset itself when n >= len(dataset).
    Raises:
        ValueError: n smaller than the number of non-empty (usage, class) strata.
    """
    return dataset if n >= len(dataset) else dataset.subset(subsample_rows(dataset, n, seed))


def _stratified_pick(strata, total, rng, at_least_one=False):
    """Indices of `total` rows drawn per stratum in proportion (largest remainders), shuffled per stratum."""
    _, inverse, sizes = np.unique(strata, return_inverse=True, return_counts=True)
    take = apportion.largest_remainder(sizes, total, at_least_one)  # (S,) within sizes, as total <= len(strata)
    picked = [rng.permutation(np.flatnonzero(inverse == stratum))[:count] for stratum, count in enumerate(take)]
    return np.sort(np.concatenate(picked))


# --------------------------------------------------------------------------------------------------- cache


def _read_cache(cache_file, resize, skip_unreadable):
    """The arrays cached in cache_file, or None if absent, of another version, unreadable, or made with
    resizing or skipping not now allowed."""
    if not cache_file.exists():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        if int(arrays.pop("version", -1)) != _CACHE_VERSION:
            return None  # written by another version of this loader: parse again and overwrite
        count = len(arrays["y"])
        if (arrays["x"].shape != (count, IMAGE_SIZE, IMAGE_SIZE, 1) or arrays["x"].dtype != np.uint8
                or arrays["usage"].shape != (count,) or arrays["ids"].shape != (count,)
                or arrays["paths"].shape != (count,) or arrays["skipped"].ndim != 1):
            raise ValueError("unexpected contents")
        arrays["first_resized"] = str(arrays["first_resized"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        warnings.warn(f"{cache_file}: ignoring an unreadable cache file ({error}); it will be rewritten",
                      stacklevel=3)
        return None
    if (arrays["resized_count"] and not resize) or (len(arrays["skipped"]) and not skip_unreadable):
        return None
    return arrays


def _write_cache(cache_file, arrays):
    """Write arrays to cache_file atomically (paths.atomic_write); warn instead of failing."""
    try:
        with paths.atomic_write(cache_file, "wb") as handle:
            np.savez(handle, version=_CACHE_VERSION, **arrays)
    except OSError as error:
        warnings.warn(f"{cache_file}: could not write the cache ({error})", stacklevel=3)
