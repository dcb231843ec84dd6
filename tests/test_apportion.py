"""Tests for fer_utils.apportion: largest-remainder counts on small hand-checked cases."""

import numpy as np
import pytest

from fer_utils import apportion, synth


@pytest.mark.parametrize("weights, total, at_least_one, expected", [
    ([5, 3, 2], 7, False, [4, 2, 1]),  # shares 3.5, 2.1, 1.4: the one seat left goes to the .5
    ([6, 3, 1], 5, False, [3, 2, 0]),  # shares 3, 1.5, .5: a tie of remainders goes to the lower index
    ([6, 3, 1], 5, True, [3, 1, 1]),  # the last part is raised to 1 and nothing is left to hand out
    ([10, 10, 1, 1], 9, True, [3, 4, 1, 1]),  # raising the two small parts overshoots: trim the first 4.29
    ([46, 32, 4, 4, 4], 9, True, [4, 2, 1, 1, 1]),  # shares 4.6, 3.2, .4 x 3: trim 3.2's part, not the largest
    ([8, 1, 1], 3, True, [1, 1, 1]),
    ([0.5, 0.25, 0.25], 0, False, [0, 0, 0]),
    (synth.FER2013_CLASS_COUNTS, 35887, True, synth.FER2013_CLASS_COUNTS),
    (synth.FER2013_CLASS_COUNTS, 50, True, [7, 1, 7, 12, 8, 6, 9]),  # disgust 0.76 raised to 1, not 2
])
def test_largest_remainder_hand_checked(weights, total, at_least_one, expected):
    counts = apportion.largest_remainder(weights, total, at_least_one)
    np.testing.assert_array_equal(counts, expected)
    assert counts.dtype == np.int64 and counts.sum() == total


def test_largest_remainder_stays_within_one_of_the_share_and_above_zero_when_asked():
    random = np.random.default_rng(0)
    for _ in range(200):
        weights = random.integers(1, 1000, random.integers(1, 9))
        total = int(random.integers(len(weights), 3000))
        share = weights * total / weights.sum()
        plain = apportion.largest_remainder(weights, total)
        assert plain.sum() == total and np.all(np.abs(plain - share) < 1)
        raised = apportion.largest_remainder(weights, total, at_least_one=True)
        assert raised.sum() == total and raised.min() >= 1 and np.all(raised - share < 1)


@pytest.mark.parametrize("weights, total, at_least_one, message", [
    ([], 3, False, "weights"),
    ([1, -1], 3, False, "weights"),
    ([0, 0], 3, False, "weights"),
    ([1, 2], -1, False, "total=-1"),
    ([1, 2, 3], 2, True, "total=2: need total >= 3"),
])
def test_largest_remainder_errors_name_the_parameter(weights, total, at_least_one, message):
    with pytest.raises(ValueError, match=message):
        apportion.largest_remainder(weights, total, at_least_one)
