"""Largest-remainder apportionment: whole counts in proportion to weights (Hamilton's method)."""

# A module of its own so that synth (numpy only) and data (pandas, PIL) share it without synth importing data.

import numpy as np


def largest_remainder(weights, total, at_least_one=False):
    """Whole counts summing to ``total`` in proportion to ``weights``, by largest remainder.

    Each part first gets the floor of its exact share ``weights * total / sum(weights)``; the seats
    left go one each to the parts with the largest remainders (ties: lower index first). With
    ``at_least_one`` every part is first raised to 1; seats still missing go by the remainders that
    are left, and any excess is taken back one at a time from the part furthest above its share
    among those holding more than one (https://en.wikipedia.org/wiki/Largest_remainder_method).

    Args:
        weights: (K,) non-negative numbers with a positive sum: class counts, stratum sizes or shares.
        total: the whole number of seats to hand out, >= 0.
        at_least_one: give every part at least 1 (needs total >= K).
    Returns:
        (K,) int64 counts summing to ``total``.
    Raises:
        ValueError: weights empty, negative or summing to 0; total negative; at_least_one with total < K.
    """
    weights = np.asarray(weights, np.float64)
    if weights.ndim != 1 or weights.size == 0 or (weights < 0).any() or not weights.sum() > 0:
        raise ValueError(f"weights={weights.tolist()}: need a non-empty 1-D list of numbers >= 0 with a positive sum")
    if total < 0 or (at_least_one and total < weights.size):
        raise ValueError(f"total={total}: need total >= {weights.size if at_least_one else 0}"
                         f"{' to give each of the parts at least one' if at_least_one else ''}")
    quota = weights * total / weights.sum()  # (K,) exact proportional shares
    counts = np.floor(quota).astype(np.int64)
    if at_least_one:
        counts = np.maximum(counts, 1)
    for part in np.argsort(-(quota - counts), kind="stable"):  # hand out the rest, biggest remainder first
        if counts.sum() >= total:
            break
        counts[part] += 1
    while counts.sum() > total:  # at_least_one overshot: trim the parts furthest above their share
        counts[np.argmax(np.where(counts > 1, counts - quota, -np.inf))] -= 1
    return counts
