"""Tests for fer_utils.audit on a small synthetic set with planted duplicates and blank faces."""

import numpy as np
import pytest

from fer_utils import audit, data, narrative, synth


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """210 synthetic faces; then: row 5 copied into PrivateTest under another label, row 8 brightened
    (a near duplicate) and row 12 made blank."""
    path = synth.write_csv(tmp_path_factory.mktemp("audit") / "fer2013.csv", n=210, seed=7, progress=False)
    dataset = data.load(path, cache=False, progress=False)
    x, y, usage = dataset.x.copy(), dataset.y.copy(), dataset.usage.copy()
    target = int(np.flatnonzero(usage == "PrivateTest")[0])
    x[target], y[target] = x[5], (y[5] + 1) % 7
    brighter = int(np.flatnonzero(usage == "PublicTest")[0])
    x[brighter] = np.clip(x[8].astype(int) * 0.9 + 12, 0, 255).astype(np.uint8)
    x[12] = 77
    planted = data.Dataset(x=x, y=y, usage=usage, ids=dataset.ids, source="planted", form="fer2013",
                           content_hash="0")
    return planted, target, brighter


def test_audit_finds_what_was_planted(planted):
    dataset, target, brighter = planted
    result = audit.audit(dataset, progress=False)
    assert [sorted(group.tolist()) for group in result.exact_groups] == [[5, target]]
    assert result.exact_extra_copies == 1
    assert len(result.exact_cross_split()) == 1 and len(result.exact_label_conflicts()) == 1
    assert [sorted(pair) for pair in result.near_pairs.tolist()] == [[8, brighter]]
    assert result.near_similarity[0] > 0.99
    assert len(result.near_cross_split()) == 1
    assert result.blank.tolist() == [12]


def test_audit_table_and_sentence_quote_the_counts(planted):
    dataset, _, _ = planted
    result = audit.audit(dataset, progress=False)
    table = audit.audit_table(result).set_index("finding")["count"]
    assert table["images"] == 210 and table["exact duplicates (extra copies)"] == 1
    assert table["near-duplicate pairs"] == 1 and table["blank or near-constant images"] == 1
    sentence = narrative.audit(audit.summary(result))
    assert "1 exact duplicate copies (0.5%) in 1 sets, 1 of them spanning two splits, 1 with conflicting labels" in sentence
    assert "1 near-duplicate pairs (1 across splits) and 1 blank" in sentence
    balance = audit.balance_table(result)
    np.testing.assert_allclose(balance.sum(axis=1), 100, atol=0.5)
    flagged = audit.duplicates_frame(result)
    assert sorted(flagged["kind"].value_counts().items()) == [("blank", 1), ("exact", 2), ("near", 2)]


def test_distinct_faces_are_not_near_duplicates(planted):
    dataset, target, brighter = planted
    clean = dataset.subset(np.setdiff1d(np.arange(len(dataset)), [target, brighter, 12]))
    result = audit.audit(clean, progress=False)
    assert len(result.near_pairs) == 0 and not result.exact_groups and len(result.blank) == 0


def test_thresholds_are_checked(planted):
    with pytest.raises(ValueError, match="near_threshold"):
        audit.audit(planted[0], near_threshold=1.5)
