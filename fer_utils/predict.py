"""Submissions: write predicted labels as a Kaggle-style ``id,label`` csv, never over an input, never half-written."""

import csv
import os
from pathlib import Path

import numpy as np

from fer_utils import errors, paths


def check_out(out, inputs=()):
    """Check an output file name before any work is done: not a folder, not one of the inputs.

    Args:
        out: the csv to write (str or Path; relative to the current folder).
        inputs: paths the run reads (the data file or folder, the run's files); out must be none of them.
    Returns:
        The absolute Path to write.
    Raises:
        InputError: out is a folder, or the same file as an input (the message names both).
    """
    out = Path(out).expanduser().absolute()
    if out.is_dir():
        raise errors.InputError(f"{out}: is a folder; --out (out) needs a file name, e.g. {out / 'submission.csv'}")
    for given in inputs:
        given = Path(given).expanduser().absolute()
        same = os.path.realpath(out) == os.path.realpath(given) or (
            out.exists() and given.exists() and os.path.samefile(out, given))
        if same:
            raise errors.InputError(f"{out}: --out (out) is the input {given}; writing the submission would "
                                    "overwrite it, give another file name")
    return out


def write_submission(out, dataset, labels, inputs=()):
    """Write one predicted label per row as csv: ``id,label``, plus ``path`` for image-folder data.

    ``id`` is ``dataset.ids`` (the ``id`` column of an ML2017 test.csv, else the row or file index); ``path`` is
    each image's path relative to the loaded folder, so a prediction can be traced to its file. The file is
    written atomically (``paths.atomic_write``): a write that fails part-way (a full disk) leaves the previous
    file whole and no temporary file behind.

    Args:
        out: the csv to write (relative to the current folder); parent folders are created.
        dataset: the ``data.Dataset`` predicted.
        labels: (N,) predicted class indices, one per row of dataset.
        inputs: paths out must not be (see check_out); the dataset's source is always one.
    Returns:
        The absolute Path written.
    Raises:
        InputError: out is a folder or an input. ValueError: labels not one per row.
        OSError: the write failed (the previous file is kept).
    """
    labels = np.asarray(labels)
    if labels.shape != (len(dataset),):
        raise ValueError(f"write_submission: {labels.size} labels for {len(dataset)} rows; give one label per row")
    sources = [source for source in str(dataset.source).split(" + ") if os.path.isabs(source)]
    out = check_out(out, [*inputs, *sources])
    with_paths = bool(np.any(dataset.paths != ""))
    with paths.atomic_write(out, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "label", "path"] if with_paths else ["id", "label"])
        columns = (dataset.ids.tolist(), labels.tolist()) + ((dataset.paths.tolist(),) if with_paths else ())
        writer.writerows(zip(*columns))
    return out
