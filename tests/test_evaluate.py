"""Tests for fer_utils.evaluate on small hand-checked label vectors."""

import numpy as np
import pytest

from fer_utils import evaluate


def test_confusion_matrix_counts_rows_true_columns_predicted():
    matrix = evaluate.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], num_classes=3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_confusion_matrix_refuses_unlabeled_rows():
    with pytest.raises(ValueError, match="outside"):
        evaluate.confusion_matrix([-1, 0], [0, 0])


def test_classification_metrics_by_hand():
    y_true = np.array([0, 0, 1, 1, 1, 3])
    y_pred = np.array([0, 1, 1, 1, 0, 3])
    metrics = evaluate.classification_metrics(y_true, y_pred)
    assert metrics["n"] == 6
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    angry = metrics["per_class"]["angry"]
    assert angry["precision"] == pytest.approx(1 / 2) and angry["recall"] == pytest.approx(1 / 2)
    disgust = metrics["per_class"]["disgust"]
    assert disgust["precision"] == pytest.approx(2 / 3) and disgust["recall"] == pytest.approx(2 / 3)
    # macro-F1 over the classes present (angry 0.5, disgust 2/3, happy 1.0)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
    assert metrics["per_class"]["fear"]["support"] == 0


class _ConstantModel:
    """Predicts class 3 unless the left half is brighter than the right (then class 5)."""

    def predict(self, x, batch_size=None, verbose=0):
        left, right = x[:, :, :24].mean(axis=(1, 2, 3)), x[:, :, 24:].mean(axis=(1, 2, 3))
        probabilities = np.zeros((len(x), 7), np.float32)
        probabilities[np.arange(len(x)), np.where(left > right, 5, 3)] = 1
        return probabilities


def test_flip_tta_averages_with_the_mirrored_face():
    x = np.zeros((1, 48, 48, 1), np.uint8)
    x[:, :, :24] = 200
    plain = evaluate.predict_probabilities(_ConstantModel(), x)
    averaged = evaluate.predict_probabilities(_ConstantModel(), x, tta="flip")
    assert plain[0, 5] == 1
    np.testing.assert_allclose(averaged[0, [3, 5]], [0.5, 0.5])


def test_keras_models_predict_the_same_numbers_through_the_dataset_feed():
    """predict_probabilities feeds Keras models a tf.data pipeline (no tf.data map for op determinism to
    rewrite, fer_utils.quiet): the numbers are model.predict's, a partial last batch and no faces included."""
    from fer_utils import models

    model = models.build("vgg_small")
    x = np.random.default_rng(0).integers(0, 256, (300, 48, 48, 1)).astype(np.uint8)
    expected = model.predict(x.astype(np.float32), batch_size=256, verbose=0)
    np.testing.assert_array_equal(evaluate.predict_probabilities(model, x, batch_size=256), expected)
    assert evaluate.predict_probabilities(model, x[:0]).shape == (0, 7)


def test_confused_pairs_pool_both_directions():
    matrix = np.diag([10, 10, 10, 10, 10, 10, 10])
    matrix[2, 5], matrix[5, 2] = 4, 2  # fear <-> surprise
    matrix[0, 1] = 1  # angry -> disgust
    pairs = evaluate.confused_pairs(matrix, top=2)
    assert list(pairs["pair"]) == ["fear / surprise", "angry / disgust"]
    assert pairs.loc[0, "errors"] == 6 and pairs.loc[0, "rate"] == pytest.approx(6 / 26)  # fear has 14 faces, surprise 12
    summary = evaluate.confusion_summary(matrix, top=2)
    assert [(pair["first"], pair["second"]) for pair in summary["pairs"]] == [("fear", "surprise"), ("angry", "disgust")]
    assert summary["pairs"][0]["first_as_second"] == 4 and summary["pairs"][0]["second_as_first"] == 2
    assert summary["worst"] == {"class": "fear", "recall": pytest.approx(10 / 14), "to": "surprise",
                                "to_share": pytest.approx(4 / 14)}


def test_misclassified_puts_confident_mistakes_first():
    y_true = np.array([0, 1, 2, 3])
    y_pred = np.array([0, 2, 1, 3])
    probabilities = np.full((4, 7), 0.1)
    probabilities[1, 2], probabilities[2, 1] = 0.6, 0.9
    np.testing.assert_array_equal(evaluate.misclassified(y_true, y_pred, probabilities), [2, 1])


def test_one_per_class_prefers_correct_faces():
    y_true = np.array([0, 0, 1, 1, 3])
    y_pred = np.array([1, 0, 0, 0, 3])
    np.testing.assert_array_equal(evaluate.one_per_class(y_true, y_pred), [1, 2, 4])


def test_per_class_sample_is_seeded_and_capped():
    y_true = np.array([0] * 10 + [1] * 3)
    sample = evaluate.per_class_sample(y_true, 4, seed=1)
    assert (y_true[sample] == 0).sum() == 4 and (y_true[sample] == 1).sum() == 3
    np.testing.assert_array_equal(sample, evaluate.per_class_sample(y_true, 4, seed=1))


def test_test_split_defaults_to_a_labeled_test_split_then_validation():
    from fer_utils import data

    def part(label):
        return data.Dataset(x=np.zeros((2, 48, 48, 1), np.uint8), y=np.full(2, label), usage=np.full(2, "Test"),
                            ids=np.arange(2), source="s", form="f", content_hash="h")

    parts = {"train": part(0), "val": part(1), "PublicTest": part(2), "PrivateTest": part(3)}
    assert evaluate.resolve_split(parts) == "PrivateTest" and evaluate.resolve_split(parts, "PublicTest") == "PublicTest"
    with pytest.raises(ValueError, match="PublicTest"):
        evaluate.resolve_split(parts, "Test")
    ml2017 = {"train": part(0), "val": part(1), "Test": part(-1)}  # train.csv + the unlabeled test.csv
    assert evaluate.resolve_split(ml2017) == "val"
    with pytest.raises(ValueError, match="no labeled test or validation split"):
        evaluate.resolve_split({"train": part(0)})


def test_mcnemar_counts_the_faces_only_one_gets_right_and_gives_the_exact_p_value():
    y = np.array([0] * 12)
    first = np.array([0] * 10 + [1, 1])   # right on 10
    second = np.array([1] * 10 + [1, 1])  # right on none
    result = evaluate.mcnemar(y, first, second)
    assert (result["n"], result["first_only"], result["second_only"]) == (12, 10, 0)
    assert result["p_value"] == pytest.approx(2 * 0.5 ** 10)  # two-sided binomial tail, by hand
    assert evaluate.mcnemar(y, first, first)["p_value"] == 1.0  # no discordant face: no evidence either way


def test_confusion_summary_names_the_worst_the_rarest_and_the_absorbing_class():
    matrix = np.diag([50, 4, 30, 60, 40, 30, 50]).astype(int)
    matrix[1, 1], matrix[1, 6], matrix[1, 0] = 1, 2, 1  # disgust: 4 faces, 1 right, 2 taken for neutral
    matrix[4, 4], matrix[4, 6] = 30, 10  # sad -> neutral
    summary = evaluate.confusion_summary(matrix)
    assert summary["worst"] == {"class": "disgust", "recall": 0.25, "to": "neutral", "to_share": 0.5}
    assert summary["rarest"]["class"] == "disgust" and summary["rarest"]["support"] == 4
    assert summary["absorbing"] == {"class": "neutral", "received": 12, "share": 12 / 13, "errors": 13}
    assert summary["never_predicted"] == []
    matrix[1, 1], matrix[1, 6] = 0, 3  # disgust never predicted now
    assert evaluate.confusion_summary(matrix)["never_predicted"] == ["disgust"]


def test_gallery_profile_compares_the_mistakes_with_correct_faces():
    y_true = np.array([0, 0, 2, 2, 3, 3, 3, 3])
    y_pred = np.array([0, 5, 5, 2, 3, 3, 3, 0])
    images = np.zeros((8, 48, 48))
    images[[1, 2, 7]] = 200.0  # the mistakes are bright
    images[[0, 3, 4, 5, 6]] = np.random.default_rng(0).uniform(0, 100, (5, 48, 48))
    probabilities = np.full((8, 7), 0.05)
    probabilities[np.arange(8), y_pred] = [0.9, 0.5, 0.6, 0.9, 0.8, 0.9, 0.95, 0.55]
    profile = evaluate.gallery_profile(images, y_true, y_pred, probabilities, shown=[2, 1])
    assert profile["shown"] == 2 and profile["true"] == [("angry", 1), ("fear", 1)]
    assert profile["predicted"] == [("surprise", 2)]
    brightness, confidence = profile["measures"]["brightness"], profile["measures"]["confidence"]
    assert brightness["mistakes"] == 200.0 and brightness["d"] > evaluate.NOTABLE_EFFECT
    assert confidence["mistakes"] == pytest.approx((0.5 + 0.6 + 0.55) / 3), "confidence over every mistake"
    assert confidence["d"] < -evaluate.NOTABLE_EFFECT
