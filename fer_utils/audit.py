"""Data audit: exact and near duplicates within and across splits, blank images, class balance.

FER2013 holds exact duplicate images, some shared between Training and the test splits (a test face
seen in training inflates test accuracy) and some carrying different labels, and a few blank or
near-constant images; `fer-workbook audit <file>` counts them. ``audit(dataset)`` finds these;
``audit_table`` and ``summary`` turn the result into the table ``fer-workbook audit`` prints and the
numbers of the sentence Q1 quotes (``narrative.audit``).
"""

import dataclasses

import numpy as np
import pandas as pd
from tqdm import tqdm

from fer_utils import CLASS_NAMES, data


@dataclasses.dataclass
class AuditResult:
    """What ``audit`` found. Row indices refer to the audited dataset.

    Attributes:
        source: the data's source path.
        rows: number of images.
        exact_groups: list of int arrays, the rows of each set of pixel-identical images.
        near_pairs: (P, 2) int array of near-duplicate row pairs (not exact duplicates), i < j.
        near_similarity: (P,) their correlation at full resolution.
        blank: int array of near-constant images (pixel standard deviation below ``blank_std``).
        usage: (N,) str usage of each row; labels: (N,) int label (-1 unlabeled).
        counts: rows per usage and class (``Dataset.counts()``).
        settings: the thresholds used.
    """

    source: str
    rows: int
    exact_groups: list
    near_pairs: np.ndarray
    near_similarity: np.ndarray
    blank: np.ndarray
    usage: np.ndarray
    labels: np.ndarray
    counts: pd.DataFrame
    settings: dict

    @property
    def exact_extra_copies(self):
        """Images that are a copy of an earlier one (what removing duplicates would remove)."""
        return int(sum(len(group) - 1 for group in self.exact_groups))

    def exact_cross_split(self):
        """Duplicate groups that span more than one usage (e.g. Training and PrivateTest)."""
        return [group for group in self.exact_groups if len(set(self.usage[group])) > 1]

    def exact_label_conflicts(self):
        """Duplicate groups whose labeled copies disagree on the class."""
        conflicts = []
        for group in self.exact_groups:
            labels = set(self.labels[group][self.labels[group] >= 0].tolist())
            if len(labels) > 1:
                conflicts.append(group)
        return conflicts

    def near_cross_split(self):
        """Near-duplicate pairs whose two images are in different usages."""
        if not len(self.near_pairs):
            return self.near_pairs
        return self.near_pairs[self.usage[self.near_pairs[:, 0]] != self.usage[self.near_pairs[:, 1]]]


def _normalised(x, block):
    """Mean-pool (N, 48, 48, 1) images by ``block`` px, then zero mean and unit norm per image."""
    n, side = len(x), x.shape[1]
    pooled = x.reshape(n, side // block, block, side // block, block).mean(axis=(2, 4), dtype=np.float32)
    flat = pooled.reshape(n, -1)
    flat -= flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return flat / np.maximum(norms, 1e-6), norms[:, 0] > 1e-3  # (N, D), and which images are not constant


def _near_pairs(x, threshold, chunk=2048, progress=True):
    """Pairs i < j of distinct images whose correlation is >= threshold at 12x12 (candidates) and at
    48x48 (confirmed). Returns ((P, 2) int64 pairs, (P,) float32 correlations)."""
    coarse, usable = _normalised(x, 4)             # (N, 144)
    coarse[~usable] = 0.0                           # constant images are found by the blank check
    n = len(x)
    pairs = [np.zeros((0, 2), np.int64)]
    for start in tqdm(range(0, n, chunk), desc="near duplicates", unit="block", disable=not progress,
                      leave=False):
        block = coarse[start:start + chunk] @ coarse[start:].T    # (b, n - start)
        rows, cols = np.nonzero(block >= threshold - 0.01)        # the coarse pass is a little looser
        keep = cols + start > rows + start
        pairs.append(np.stack([rows[keep] + start, cols[keep] + start], axis=1))
    pairs = np.concatenate(pairs).astype(np.int64)
    fine, _ = _normalised(x, 1)                     # (N, 2304)
    similarity = np.einsum("pd,pd->p", fine[pairs[:, 0]], fine[pairs[:, 1]]).astype(np.float32)
    keep = similarity >= threshold
    return pairs[keep], similarity[keep]


def audit(dataset, near_threshold=0.98, blank_std=3.0, progress=True):
    """Audit a dataset for duplicates, blank images and class balance.

    Exact duplicates are pixel-identical images. Near duplicates are pairs whose pixel correlation
    (after removing each image's mean brightness and contrast) is at least ``near_threshold``: the
    same photo re-encoded, brightened or slightly cropped. Blank images have a pixel standard
    deviation below ``blank_std`` grey levels.

    Args:
        dataset: a ``fer_utils.data.Dataset``.
        near_threshold: correlation above which two images count as near duplicates, in (0, 1].
        blank_std: standard deviation (grey levels) below which an image counts as blank.
        progress: show a progress bar over the pairwise comparison.
    Returns:
        An ``AuditResult``.
    Raises:
        ValueError: a threshold out of range.
    """
    if not 0.0 < near_threshold <= 1.0:
        raise ValueError(f"near_threshold={near_threshold}: must be in (0, 1]")
    if blank_std < 0:
        raise ValueError(f"blank_std={blank_std}: must be >= 0")
    x = dataset.x
    _, first, inverse, counts = np.unique(data.pixel_keys(x), return_index=True, return_inverse=True,
                                          return_counts=True)
    order = np.argsort(inverse, kind="stable")
    exact_groups = [group for group in np.split(order, np.cumsum(counts)[:-1]) if len(group) > 1]
    # near duplicates among distinct images only (one representative per exact-duplicate set)
    near_pairs, near_similarity = _near_pairs(x[first], near_threshold, progress=progress)
    near_pairs = first[near_pairs]
    blank = np.flatnonzero(x.reshape(len(x), -1).std(axis=1) < blank_std)
    return AuditResult(
        source=dataset.source, rows=len(x), exact_groups=exact_groups, near_pairs=near_pairs,
        near_similarity=near_similarity, blank=blank, usage=dataset.usage, labels=dataset.y,
        counts=dataset.counts(), settings={"near_threshold": near_threshold, "blank_std": blank_std},
    )


def audit_table(result):
    """The audit's findings as a table: finding, count, share of images, and what it means."""
    n = result.rows
    cross = result.exact_cross_split()
    rows = [
        ("images", n, "all rows of the source"),
        ("exact duplicates (extra copies)", result.exact_extra_copies,
         f"in {len(result.exact_groups):,} sets of pixel-identical images"),
        ("  sets spanning two splits", len(cross), "a face both trained on and tested on"),
        ("  sets with conflicting labels", len(result.exact_label_conflicts()), "the same image under two classes"),
        ("near-duplicate pairs", len(result.near_pairs),
         f"pixel correlation >= {result.settings['near_threshold']:g}, not identical"),
        ("  pairs spanning two splits", len(result.near_cross_split()), ""),
        ("blank or near-constant images", len(result.blank), f"pixel std < {result.settings['blank_std']:g} grey levels"),
    ]
    table = pd.DataFrame(rows, columns=["finding", "count", "note"])
    table.insert(2, "share", [count / n if n else float("nan") for count in table["count"]])
    return table


def duplicates_frame(result):
    """Every row the audit flags, one line each: kind (exact, near, blank), group, row, usage, label.

    Exact duplicates share a group number per set; a near-duplicate pair shares one; blank images
    have group -1. Rows are 0-based positions in the audited data (the file's data lines, in order).
    """
    records = []
    for group, rows in enumerate(result.exact_groups):
        records += [("exact", group, int(row)) for row in rows]
    for pair, rows in enumerate(result.near_pairs):
        records += [("near", pair, int(row)) for row in rows]
    records += [("blank", -1, int(row)) for row in result.blank]
    frame = pd.DataFrame(records, columns=["kind", "group", "row"])
    frame["usage"] = result.usage[frame["row"].to_numpy()] if len(frame) else []
    frame["label"] = result.labels[frame["row"].to_numpy()] if len(frame) else []
    return frame


def balance_table(result):
    """Each class's share of its usage's labeled faces, in % (usages without labels are left out)."""
    counts = result.counts.drop(columns="total")
    classes = [name for name in CLASS_NAMES if name in counts.columns]
    counts = counts[counts[classes].sum(axis=1) > 0]
    share = counts[classes].div(counts[classes].sum(axis=1), axis=0)
    return share.rename(columns={name: f"{name} %" for name in classes}).mul(100).round(1)


def summary(result):
    """The audit's findings as numbers, for the report's sentence.

    Returns:
        {"rows", "exact_copies", "exact_sets", "cross_split_sets", "label_conflict_sets", "near_pairs",
         "near_cross_split", "blank", "rarest": {"class", "count", "share"} or None without labels}.
    """
    rarest = None
    counts = result.counts
    classes = [name for name in CLASS_NAMES if name in counts.columns]
    if "all" in counts.index and counts.loc["all", classes].sum() > 0:
        totals = counts.loc["all", classes]
        name = totals.idxmin()
        rarest = {"class": name, "count": int(totals[name]), "share": float(totals[name] / totals.sum())}
    return {"rows": result.rows, "exact_copies": int(result.exact_extra_copies), "exact_sets": len(result.exact_groups),
            "cross_split_sets": len(result.exact_cross_split()),
            "label_conflict_sets": len(result.exact_label_conflicts()), "near_pairs": len(result.near_pairs),
            "near_cross_split": len(result.near_cross_split()), "blank": len(result.blank), "rarest": rarest}
