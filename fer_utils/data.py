"""Load FER2013 (Kaggle fer2013.csv, ML2017 train.csv/test.csv, image folders; gzipped or not) into one Dataset."""

import collections
import concurrent.futures
import contextlib
import dataclasses
import difflib
import hashlib
import io
import os
import re
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

try:  # ISA-L inflates ~1.6x faster than zlib (a pinned dependency; zlib when it is missing, e.g. under conda)
    from isal import isal_zlib as inflate
except ImportError:  # pragma: no cover
    import zlib as inflate

from fer_utils import CLASS_NAMES, IMAGE_SIZE, NUM_PIXELS, apportion, errors, paths

#: Usage values in their canonical order; "Test" marks ML2017 test.csv rows and a test/ image folder.
USAGES = ("Training", "PublicTest", "PrivateTest", "Test")
#: The CSV header of each form (matched case-insensitively, in any column order).
HEADERS = {
    "fer2013": ("emotion", "pixels", "Usage"),
    "ml2017-train": ("label", "feature"),
    "ml2017-test": ("id", "feature"),
}
_FORM_NAMES = {"fer2013": "Kaggle fer2013.csv", "ml2017-train": "ML2017 train.csv", "ml2017-test": "ML2017 test.csv"}
_CSV_USAGES = USAGES[:3]
#: Split folder names (lower case, without "_", "-" and spaces) and the usage each stands for.
SPLIT_FOLDERS = {"train": "Training", "training": "Training", "val": "PublicTest", "valid": "PublicTest",
                 "validation": "PublicTest", "publictest": "PublicTest", "privatetest": "PrivateTest",
                 "test": "Test"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_CACHE_VERSION = 2  # 2: image paths, skipped files, 16-bit images scaled
_CHUNK_BYTES = 1 << 19  # parse ~512 KB of text at a time: the working arrays stay in the CPU caches
_PAD = 3  # spaces put before each chunk: no number ends in its first 3 bytes, so look-behinds stay inside
SPACE, NEWLINE, COMMA, QUOTE, RETURN = b" \n,\"\r"


class DataError(errors.InputError):
    """Unusable input data; the message names the file and line (or the image) and what was expected."""


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
        entries, content_hash = _scan_folders(source, progress)
        form = "folders"
    else:
        raw = source.read_bytes()  # (compressed) file bytes
        content_hash = hashlib.sha256(raw).hexdigest()
        form, header = _read_header(raw, source)
    cache_file = Path(cache_dir or paths.CACHE_DIR) / f"{form}-{content_hash}.npz"
    arrays = _read_cache(cache_file, resize, skip_unreadable) if cache else None
    if arrays is None:
        if form == "folders":
            arrays = _read_images(entries, source, resize, skip_unreadable, progress)
        else:
            arrays = _parse_csv(raw, source, form, header, progress)
        if cache:
            _write_cache(cache_file, arrays)
    if arrays["resized_count"]:
        warnings.warn(f"{source}: resized {int(arrays['resized_count'])} images to 48x48 (bilinear), "
                      f"the first {arrays['first_resized']}", stacklevel=2)
    if len(arrays["skipped"]):
        warnings.warn(f"{source}: skipped {_files(len(arrays['skipped']))} that "
                      f"{'is not a readable image' if len(arrays['skipped']) == 1 else 'are not readable images'} "
                      f"(skip_unreadable=True): {_listing(arrays['skipped'])}", stacklevel=2)
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


def train_val_split(dataset, val_fraction=0.1, seed=0):
    """Split the labeled "Training" rows into train and validation parts, stratified by class.

    Args:
        dataset: a Dataset with labeled "Training" rows.
        val_fraction: the share of each class that goes to validation, in (0, 1).
        seed: the random seed; the same seed gives the same split.
    Returns:
        (train, val) Datasets, disjoint, together holding every labeled Training row, in file order.
        Pixel-identical faces never straddle the two: validation may come out a few rows short.
    Raises:
        DataError: no labeled Training rows. ValueError: val_fraction outside (0, 1).
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
    return dataset.subset(training[~is_val]), dataset.subset(training[is_val])


def splits(dataset, val_fraction=0.1, seed=0):
    """The parts to train and evaluate on: {"train", "val"} from Training, plus each other usage whole.

    Args:
        dataset: a labeled Dataset.
        val_fraction, seed: as for train_val_split.
    Returns:
        {"train": Dataset, "val": Dataset, "PublicTest": ..., "PrivateTest": ..., "Test": ...} (usages present).
    Raises:
        DataError: no labeled Training rows (e.g. the unlabeled ML2017 test.csv).
    """
    train, val = train_val_split(dataset, val_fraction, seed)
    parts = {"train": train, "val": val}
    parts.update({usage: dataset.split(usage) for usage in dataset.usages if usage != "Training"})
    return parts


def subsample(dataset, n, seed=0):
    """A seeded subset of n rows stratified by (usage, class): every non-empty stratum keeps at least one row.

    Args:
        dataset: a Dataset.
        n: the number of rows wanted; n >= len(dataset) returns the dataset unchanged.
        seed: the random seed.
    Returns:
        A Dataset of min(n, len) rows, in file order.
    Raises:
        ValueError: n smaller than the number of non-empty (usage, class) strata.
    """
    if n >= len(dataset):
        return dataset
    usage_index = np.unique(dataset.usage, return_inverse=True)[1]  # (N,)
    strata = usage_index * (len(CLASS_NAMES) + 1) + (dataset.y + 1)  # (N,) one code per (usage, class)
    if n < len(np.unique(strata)):
        raise ValueError(f"n={n} is below the {len(np.unique(strata))} (usage, class) groups present; "
                         "each keeps at least one row")
    return dataset.subset(np.sort(_stratified_pick(strata, n, np.random.default_rng(seed), at_least_one=True)))


def _stratified_pick(strata, total, rng, at_least_one=False):
    """Indices of `total` rows drawn per stratum in proportion (largest remainders), shuffled per stratum."""
    _, inverse, sizes = np.unique(strata, return_inverse=True, return_counts=True)
    take = apportion.largest_remainder(sizes, total, at_least_one)  # (S,) within sizes, as total <= len(strata)
    picked = [rng.permutation(np.flatnonzero(inverse == stratum))[:count] for stratum, count in enumerate(take)]
    return np.sort(np.concatenate(picked))


# ---------------------------------------------------------------------------------------------- CSV files


def _read_header(raw, source):
    """Detect the CSV form from the first line; return (form, the header columns as written)."""
    if raw.startswith(b"PK\x03\x04"):
        raise DataError(f"{source}: is a zip archive; unzip it and pass the CSV file or the image folder")
    head = raw[:1 << 16]
    if raw[:2] == b"\x1f\x8b":
        try:
            decompressor = inflate.decompressobj(wbits=31)
            head = decompressor.decompress(head, 1 << 16)
        except inflate.error as error:
            raise DataError(f"{source}: corrupt gzip data ({error})") from None
        if b"\n" not in head and len(raw) <= 1 << 16 and not decompressor.eof:
            raise DataError(f"{source}: the gzip data is truncated")
    if not head.strip():
        raise DataError(f"{source}, line 1: the file is empty; expected a header line such as 'label,feature'")
    header = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").strip()
    columns = tuple(column.strip().strip('"') for column in header.split(","))
    found = [column.lower() for column in columns]
    for form, expected in HEADERS.items():
        if sorted(found) == sorted(column.lower() for column in expected):
            return form, columns
    closest = max(HEADERS, key=lambda form: len(set(found) & {column.lower() for column in HEADERS[form]}))
    expected = [column.lower() for column in HEADERS[closest]]
    extra = {column.lower(): column for column in columns if column.lower() not in expected}
    hints = []
    for column in HEADERS[closest]:
        if column.lower() not in found:
            typo = difflib.get_close_matches(column.lower(), list(extra), n=1, cutoff=0.5)
            hints.append(f"missing column '{column}'" + (f" (is '{extra.pop(typo[0])}' a typo?)" if typo else ""))
    hints += [f"unexpected column '{column}'" for column in extra.values()]
    if not set(found) & set(expected) and "typo" not in "".join(hints):
        hints = ["no known column names (is the header missing?)"]
    forms = ", ".join(f"'{','.join(columns)}' ({_FORM_NAMES[form]})" for form, columns in HEADERS.items())
    raise DataError(f"{source}, line 1: unrecognised header {header[:80]!r}: {'; '.join(hints)}; "
                    f"expected one of {forms}")


def _parse_csv(raw, source, form, columns, progress):
    """Parse a whole CSV file into cache arrays, line by line in chunks of whole lines."""
    names = [column.lower() for column in columns]
    pixel_column = names.index("pixels" if form == "fer2013" else "feature")
    parts, pending, next_line = [], collections.deque(), 1  # next_line: 1-based number of the next line to parse
    bar = tqdm(total=len(raw), unit="B", unit_scale=True, desc=f"parsing {source.name}", file=sys.stderr,
               disable=not progress, delay=1.0)
    # numpy releases the GIL on big arrays: chunks are parsed on every core while a thread gunzips ahead;
    # results are taken in file order, so the first bad line of the file is the error raised
    workers = os.cpu_count() or 1

    def collect(ready):
        """Move parsed chunks from the front of the queue into parts while ready(); on an error cancel the rest."""
        while pending and ready():
            future, offset, text, first_line = pending.popleft()
            try:
                parts.append(future.result())
            except DataError as error:
                for later, *_ in pending:
                    later.cancel()
                if "id" in names and getattr(error, "line", None):  # an id repeated above the bad line comes first
                    rows_above = text[:_line_start(text, error.line - first_line)]
                    above = [_parse_lines(rows_above, first_line, columns, pixel_column, source)] if rows_above else []
                    _check_unique_ids(np.concatenate([part["id"] for part in parts + above] or [[]]), source)
                raise
            bar.update(offset - bar.n)

    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="parse")
    with bar, pool, contextlib.closing(_line_chunks(raw, source)) as chunks:
        for text, raw_offset in chunks:
            if next_line == 1:  # the header was read already
                text = text[text.find(b"\n") + 1:]
                next_line = 2
            if text:
                pending.append((pool.submit(_parse_lines, text, next_line, columns, pixel_column, source), raw_offset,
                                text, next_line))
                next_line += text.count(b"\n")
            collect(lambda: pending[0][0].done() or len(pending) > 2 * workers)
        collect(lambda: True)
    if not parts:
        raise DataError(f"{source}, line 2: no data rows after the header {','.join(columns)!r}")
    fields = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    count = len(fields["x"])
    ids = fields.get("id", np.arange(count, dtype=np.int64))
    _check_unique_ids(ids, source)
    labels = fields.get("emotion", fields.get("label"))
    return {"x": fields["x"].reshape(count, IMAGE_SIZE, IMAGE_SIZE, 1),
            "y": labels if labels is not None else np.full(count, -1, np.int64),
            "usage": fields.get("usage", np.full(count, "Test" if form == "ml2017-test" else "Training", "<U11")),
            "ids": ids, "paths": np.full(count, "", "<U1"), "resized_count": 0, "first_resized": "",
            "skipped": np.zeros(0, "<U1")}


def _check_unique_ids(ids, source):
    """Raise DataError naming the first data line (line 2 = row 0) whose id repeats an earlier line's id."""
    order = np.argsort(ids, kind="stable")
    repeated = np.flatnonzero(ids[order][1:] == ids[order][:-1])  # later rows that repeat an id
    if len(repeated):
        row = order[1:][repeated].min()
        first = np.flatnonzero(ids == ids[row])[0]
        raise DataError(f"{source}, line {row + 2}: id {ids[row]} repeats the id of line {first + 2}; "
                        "ids must be unique")


def _line_start(text, index):
    """The byte offset where the 0-based line `index` of text starts."""
    return 0 if index <= 0 else int(np.flatnonzero(np.frombuffer(text, np.uint8) == NEWLINE)[index - 1]) + 1


def _quote(content, limit=80):
    """A bad field for an error message: repr of its text, cut to `limit` bytes with "…" and its length."""
    text = repr(bytes(content[:limit]).decode("utf-8", "replace"))
    return text if len(content) <= limit else f"{text}… ({len(content):,} bytes)"


def _line_chunks(raw, source):
    """Yield (text of whole lines each ending in "\\n", raw bytes consumed so far); gunzips ahead in a thread."""
    if raw[:2] != b"\x1f\x8b":
        yield from _whole_lines((raw[start:start + _CHUNK_BYTES], min(start + _CHUNK_BYTES, len(raw)))
                                for start in range(0, len(raw), _CHUNK_BYTES))
        return
    chunks = _whole_lines(_gunzip(raw, source))
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="gunzip")  # runs the next() calls in order
    try:  # inflating releases the GIL: a few chunks are gunzipped ahead while the caller parses
        ahead = collections.deque(pool.submit(next, chunks, None) for _ in range(8))
        while (chunk := ahead.popleft().result()) is not None:
            ahead.append(pool.submit(next, chunks, None))
            yield chunk
    finally:
        pool.shutdown(cancel_futures=True)


def _gunzip(raw, source):
    """Yield (decompressed bytes, compressed bytes consumed) for a gzip file of one or more members."""
    view, start, step = memoryview(raw), 0, _CHUNK_BYTES // 4  # FER2013 text compresses about 3:1
    try:
        while start < len(raw):
            decompressor = inflate.decompressobj(wbits=31)
            while start < len(raw) and not decompressor.eof:
                piece = decompressor.decompress(view[start:start + step])
                start = min(start + step, len(raw))
                yield piece, start
            if not decompressor.eof:
                raise DataError(f"{source}: the gzip data is truncated")
            start -= len(decompressor.unused_data)
            if not raw[start:].strip(b"\0"):
                return
            if raw[start:start + 2] != b"\x1f\x8b":  # not another gzip member
                raise DataError(f"{source}: {len(raw) - start:,} bytes of trailing data after the gzip stream "
                                f"(from byte {start:,}); the file was damaged or appended to: compress the CSV again")
    except inflate.error as error:
        raise DataError(f"{source}: corrupt gzip data ({error})") from None


def _whole_lines(pieces):
    """Regroup text pieces into chunks of whole lines, one per piece; blank lines at the very end are dropped."""
    pending, offset = b"", 0  # a line continued in the next piece
    for piece, offset in pieces:
        end = len(piece)
        while end and piece[end - 1] in b"\r\n":  # trailing blank lines wait for more text (or the end)
            end -= 1
        cut = piece.rfind(b"\n", 0, end) + 1
        if cut:
            yield b"".join((pending, memoryview(piece)[:cut])), offset
            pending = piece[cut:]
        else:
            pending += piece
    pending = pending.rstrip(b"\r\n")
    if pending:
        yield pending + b"\n", offset


def _parse_lines(text, first_line, columns, pixel_column, source):
    """Parse whole CSV lines with numpy; raise DataError for the first bad line.

    Args:
        text: bytes of L lines, each ending in "\\n".
        first_line: the 1-based file line number of the first line.
    Returns:
        {"x": (L, 2304) uint8, and "emotion"/"label" (L,) int64, "id" (L,) int64, "usage" (L,) str as present}.
    """
    buffer = np.frombuffer(text, np.uint8)  # (B,)
    line_ends = np.flatnonzero(buffer == NEWLINE)  # (L,) position of each "\n"
    line_starts = np.concatenate(([0], line_ends[:-1] + 1))  # (L,)
    line_stops = line_ends - ((line_ends > line_starts) & (buffer[line_ends - 1] == RETURN))  # (L,) before "\r\n"

    def fail(row, message):
        error = DataError(f"{source}, line {first_line + row}: {message}")
        error.line = first_line + row
        raise error

    header = ",".join(columns)
    commas = np.flatnonzero(buffer == COMMA)  # (C,)
    fields_found = np.diff(np.searchsorted(commas, line_ends), prepend=0) + 1  # (L,)
    wrong = (line_stops == line_starts) | (fields_found != len(columns))  # (L,)
    if wrong.any():
        row = np.argmax(wrong)
        if row:  # the lines above may hold another kind of error: the first bad line of the file is the one named
            _parse_lines(text[:line_starts[row]], first_line, columns, pixel_column, source)
        found = "an empty line" if line_stops[row] == line_starts[row] else f"{fields_found[row]} fields"
        fail(row, f"found {found}, expected {len(columns)} comma-separated fields ({header})")
    field_starts = np.column_stack([line_starts, commas.reshape(len(line_ends), -1) + 1])  # (L, F)
    field_stops = np.column_stack([commas.reshape(len(line_ends), -1), line_stops])  # (L, F)
    quoted = ((field_stops - field_starts >= 2) & (buffer[field_starts] == QUOTE)
              & (buffer[field_stops - 1] == QUOTE))  # (L, F) drop one pair of surrounding double quotes
    field_starts, field_stops = field_starts + quoted, field_stops - quoted

    def field_text(row, column):
        return _quote(memoryview(text)[field_starts[row, column]:field_stops[row, column]])

    problems = []  # (row, message) of the first bad row per check; the earliest is raised
    result = {}
    for column, name in enumerate(columns):
        if column == pixel_column:
            continue
        values = _field_values(buffer, field_starts[:, column], field_stops[:, column])  # (L,) bytes
        key = name.lower()
        if key in ("emotion", "label"):
            valid = np.isin(values, [str(label).encode() for label in range(len(CLASS_NAMES))])
            result[key] = values.astype(np.int64) if valid.all() else None
            expected = f"a class index 0-6 ({', '.join(f'{i} {c}' for i, c in enumerate(CLASS_NAMES))})"
        elif key == "id":
            valid = np.char.isdigit(values) & (np.char.str_len(values) <= 18)
            result[key] = values.astype(np.int64) if valid.all() else None
            expected = "a non-negative integer"
        else:
            valid = np.isin(values, [usage.encode() for usage in _CSV_USAGES])
            result[key] = values.astype("<U11") if valid.all() else None
            expected = f"one of {', '.join(_CSV_USAGES)}"
        if not valid.all():
            row = np.argmin(valid)
            problems.append((row, f"{name} {field_text(row, column)} is not {expected}"))

    pixel_starts, pixel_stops = field_starts[:, pixel_column] + _PAD, field_stops[:, pixel_column] + _PAD  # (L,)
    pixels_name = columns[pixel_column]

    def bad_token(position):
        row = np.searchsorted(line_ends, position - _PAD)
        start, stop = pixel_starts[row] - _PAD, pixel_stops[row] - _PAD
        token_start = max(text.rfind(b" ", start, position - _PAD + 1) + 1, start)
        token_stop = text.find(b" ", position - _PAD, stop)
        token_stop = stop if token_stop < 0 else token_stop
        index = len(text[start:token_start].split()) + 1
        token = _quote(memoryview(text)[token_start:token_stop])
        problems.append((row, f"{pixels_name} value {index} is {token}, expected an integer 0-255 "
                              "(values separated by spaces)"))

    # Keep only the pixel fields: everything else becomes a space. (B + PAD + 1,) bytes
    work = np.empty(len(buffer) + _PAD + 1, np.uint8)
    work[:_PAD], work[_PAD:-1], work[-1] = SPACE, buffer, SPACE
    work[_concatenated_ranges(np.concatenate(([0], pixel_stops)), np.concatenate((pixel_starts, [len(work)])))] = SPACE
    digits = work - ord("0")  # (B',) digit values; any other byte wraps to >= 10
    is_digit = digits < 10
    if np.count_nonzero(is_digit) + np.count_nonzero(work == SPACE) != len(work):
        bad_token(np.argmax(~is_digit & (work != SPACE)))
    token_ends = np.flatnonzero(is_digit[:-1] > is_digit[1:])  # (T,) last digit of every number
    counts = np.diff(np.append(np.searchsorted(token_ends, pixel_starts), len(token_ends)))  # (L,)
    if (counts != NUM_PIXELS).any():
        row = np.argmax(counts != NUM_PIXELS)
        problems.append((row, f"found {counts[row]} values in {pixels_name}, expected {NUM_PIXELS} "
                              f"({IMAGE_SIZE}x{IMAGE_SIZE})"))
    digits *= is_digit  # separators count as 0
    tens_and_ones, hundreds = np.empty_like(digits), np.empty_like(digits)  # (B',) of the number ending here
    tens_and_ones[0], hundreds[:2] = 0, 0  # never a number's end: the chunk starts with _PAD spaces
    np.add(digits[:-1] * 10, digits[1:], out=tens_and_ones[1:])
    np.multiply(digits[:-2], is_digit[1:-1], out=hundreds[2:])
    values = hundreds.take(token_ends).astype(np.uint16) * 100 + tens_and_ones.take(token_ends)  # (T,)
    two_digits = is_digit[:-1] & is_digit[1:]  # (B'-1,)
    four_digits = two_digits[:-2] & two_digits[2:]  # (B'-3,) True where 4 digits in a row start
    if four_digits.any():
        bad_token(np.argmax(four_digits))
    if values.max(initial=0) > 255:
        bad_token(token_ends[np.argmax(values > 255)])
    if problems:
        fail(*min(problems, key=lambda problem: problem[0]))
    result["x"] = values.astype(np.uint8).reshape(len(line_ends), NUM_PIXELS)
    return result


def _field_values(buffer, starts, stops, max_width=24):
    """The fields [starts, stops) of buffer as a (L,) bytes array; a field over max_width is cut to b"" + junk."""
    widths = stops - starts
    width = int(min(max(widths.max(initial=1), 1), max_width))
    index = starts[:, None] + np.arange(width)  # (L, W)
    inside = (np.arange(width) < widths[:, None]) & (widths[:, None] <= max_width)
    matrix = np.where(inside, buffer[np.minimum(index, len(buffer) - 1)], 0).astype(np.uint8)
    matrix[widths > max_width, 0] = ord("?")  # never a valid value
    return np.char.strip(matrix.view(f"S{width}").ravel())


def _concatenated_ranges(starts, stops):
    """np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]) without the loop."""
    lengths = stops - starts
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())


# ------------------------------------------------------------------------------------------- image folders


def _class_index(name):
    """The label a class folder name stands for ("Happy", "happy" and "3" are all 3), or None."""
    name = name.lower()
    if name in CLASS_NAMES:
        return CLASS_NAMES.index(name)
    return int(name) if name in {str(label) for label in range(len(CLASS_NAMES))} else None


def _split_usage(name):
    return SPLIT_FOLDERS.get(name.lower().replace("_", "").replace("-", "").replace(" ", ""))


def _scan_folders(root, progress):
    """Find <root>/<split>/<class>/<file> and unlabeled <root>/<split>/<file> (or the same with root one split).

    Every file in a class folder (at any depth) or an unlabeled split folder is an entry, whatever its type,
    so that none is skipped without a word; hidden files and folders (".name") are ignored.
    Returns:
        (entries, content sha256). Entries are (path, usage, label, bytes) ordered by usage (canonical order),
        label (-1 for unlabeled) and path; bytes is None for a file whose type is not one of IMAGE_SUFFIXES. The
        hash covers the sorted relative paths and bytes (for other files, the size) of every entry.
    """
    expected = (f"expected <split>/<class>/<image> (or <split>/<image> for unlabeled images) with split folders "
                f"{', '.join(sorted(SPLIT_FOLDERS))} and class folders {', '.join(CLASS_NAMES)} (any case) or 0-6; "
                f"images {', '.join(IMAGE_SUFFIXES)}")
    items = [item for item in sorted(root.iterdir()) if not item.name.startswith(".")]
    folders = [item for item in items if item.is_dir()]
    if any(_class_index(folder.name) is not None for folder in folders) or (items and not folders):
        if _split_usage(root.name) is None:  # root is one split folder
            kind = "class folders" if folders else "images"
            raise DataError(f"{root}: a folder of {kind}, but its name {root.name!r} is not a split name, so "
                            f"its usage is unknown; name it one of {', '.join(sorted(SPLIT_FOLDERS))}")
        split_folders = [root]
    else:
        for folder in folders:
            if _split_usage(folder.name) is None:
                raise DataError(f"{folder}: unknown split folder {folder.name!r}; {expected}")
        split_folders = folders
    if not split_folders:
        raise DataError(f"{root}: no images found; {expected}")
    found = []  # (path, usage, label)
    for split_folder in split_folders:
        usage = _split_usage(split_folder.name)
        items = [item for item in sorted(split_folder.iterdir()) if not item.name.startswith(".")]
        class_folders = [item for item in items if item.is_dir()]
        in_split = []
        if not class_folders:  # unlabeled: every file of the split folder
            in_split = [(item, usage, -1) for item in items if item.is_file()]
        for item in items:
            if item.is_dir():
                label = _class_index(item.name)
                if label is None:
                    raise DataError(f"{item}: unknown class folder {item.name!r}; {expected}")
                in_split += [(path, usage, label) for path in sorted(item.rglob("*")) if path.is_file()
                             and not any(part.startswith(".") for part in path.relative_to(item).parts)]
            elif class_folders and item.suffix.lower() in IMAGE_SUFFIXES:
                raise DataError(f"{item}: an image outside a class folder; {expected}")
        if not in_split:
            raise DataError(f"{split_folder}: an empty split folder (no files in it or its class folders); "
                            "remove it or put its images in")
        found += in_split
    found.sort(key=lambda entry: (USAGES.index(entry[1]), entry[2], entry[0]))
    entries = [(path, usage, label, path.read_bytes() if path.suffix.lower() in IMAGE_SUFFIXES else None)
               for path, usage, label in tqdm(found, desc=f"reading {root.name}", unit="image", file=sys.stderr,
                                              disable=not progress)]
    digest = hashlib.sha256()
    for relative, content in sorted((path.relative_to(root).as_posix(), content or str(path.stat().st_size).encode())
                                    for path, _, _, content in entries):
        digest.update(relative.encode() + b"\0" + len(content).to_bytes(8, "little") + content)
    return entries, digest.hexdigest()


def _read_images(entries, root, resize, skip_unreadable, progress):
    """Decode the scanned images to (N, 48, 48, 1) uint8, converting colour to grayscale and 16 bits to 8.

    Raises:
        DataError: files that are not readable images (listed, with the reason), unless skip_unreadable;
        an image that is not 48x48 unless resize.
    """
    x = np.empty((len(entries), IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8)
    readable = np.ones(len(entries), bool)
    resized, unreadable = [], []  # unreadable: "relative/path: reason"
    for row, (path, _, _, content) in enumerate(tqdm(entries, desc=f"decoding {root.name}", unit="image",
                                                     file=sys.stderr, disable=not progress)):
        relative = path.relative_to(root).as_posix()
        if content is None:
            readable[row] = False
            unreadable.append(f"{relative}: unsupported file type {path.suffix.lower() or 'without a suffix'!r} "
                              f"(images {', '.join(IMAGE_SUFFIXES)})")
            continue
        try:
            with Image.open(io.BytesIO(content)) as image:
                image = _grayscale(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # PIL uses all four
            readable[row] = False
            reason = re.sub(r" <_io\.BytesIO object at 0x[0-9a-f]+>", "", str(error))  # PIL names its buffer
            unreadable.append(f"{relative}: unreadable image ({reason})")
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


def _grayscale(image):
    """A PIL image as 8-bit grayscale ("L"): colour by ITU-R 601-2 luma, 16-bit gray by round(value / 257).

    PIL's own convert("L") clips 16-bit values at 255 (a 16-bit face would come out almost white).
    """
    if image.mode.startswith("I"):  # "I;16", "I;16B", ... and "I" (32-bit): 16-bit PNGs open as these
        values = np.asarray(image, np.float64)  # (H, W)
        return Image.fromarray(np.clip(np.rint(values / 257), 0, 255).astype(np.uint8), "L")
    return image.convert("L")


def _files(count):
    return f"{count:,} file" + ("" if count == 1 else "s")


def _listing(items, limit=10):
    """Items joined with "; ", the first `limit` of them, then how many more."""
    items = list(items)
    more = f"; … and {len(items) - limit:,} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


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
