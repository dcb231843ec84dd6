"""Predictions and the metrics the report quotes: accuracy, macro-F1, per-class recall, confusion matrix."""

import numpy as np

from fer_utils import CLASS_NAMES, NUM_CLASSES, augment


def predict_probabilities(model, x, batch_size=256, tta="none"):
    """Class probabilities for raw-pixel images, averaged over test-time views.

    Args:
        model: a Keras model ending in softmax probabilities (an ensemble model averages its members).
        x: (N, 48, 48, 1) uint8 images.
        batch_size: inference batch size.
        tta: test-time augmentation, one of ``fer_utils.augment.TTA_MODES``: "none", "flip" (the face
            and its mirror image) or "ten_crop" (five shifted windows and their mirrors).
    Returns:
        (N, 7) float32 probabilities.
    Raises:
        ValueError: unknown ``tta``.
    """
    x = np.asarray(x, dtype=np.float32)  # (N, 48, 48, 1)
    views = augment.views(x, tta)
    probabilities = sum(model.predict(view, batch_size=batch_size, verbose=0) for view in views) / len(views)
    return np.asarray(probabilities, dtype=np.float32)


def confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES):
    """Counts with rows = true class, columns = predicted class.

    Args:
        y_true: (N,) ints in [0, num_classes).
        y_pred: (N,) ints in [0, num_classes).
    Returns:
        (num_classes, num_classes) int64 matrix.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    if y_true.size and (y_true.min() < 0 or y_true.max() >= num_classes):
        raise ValueError(f"y_true holds labels outside 0..{num_classes - 1} (unlabeled rows?)")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def classification_metrics(y_true, y_pred):
    """Accuracy, macro-F1 and per-class precision/recall/F1 (classes absent from both count as F1 0).

    Args:
        y_true: (N,) true labels.
        y_pred: (N,) predicted labels.
    Returns:
        A dict: ``n``, ``accuracy``, ``macro_f1``, ``per_class`` {name: {precision, recall, f1, support}}.
    """
    matrix = confusion_matrix(y_true, y_pred)
    true_positive = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, true_positive / predicted, 0.0)
        recall = np.where(support > 0, true_positive / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    total = int(matrix.sum())
    return {
        "n": total,
        "accuracy": float(true_positive.sum() / total) if total else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(CLASS_NAMES)
        },
    }


def evaluate_splits(model, parts, batch_size=256, tta="none"):
    """Metrics for each labeled split.

    Args:
        model: a Keras classifier.
        parts: {split name: fer_utils.data.Dataset}; unlabeled splits are skipped.
        batch_size: inference batch size.
        tta: test-time augmentation (see ``predict_probabilities``).
    Returns:
        {split name: classification_metrics(...)}.
    """
    results = {}
    for name, part in parts.items():
        if len(part) == 0 or not part.labeled:
            continue
        predicted = predict_probabilities(model, part.x, batch_size, tta).argmax(axis=1)
        results[name] = classification_metrics(part.y, predicted)
    return results


def summary_table(results):
    """One row per split: n, accuracy, macro-F1 and the recall of each class, as a pandas DataFrame."""
    import pandas as pd

    rows = []
    for split, metrics in results.items():
        row = {"split": split, "n": metrics["n"], "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
        row.update({f"recall_{name}": values["recall"] for name, values in metrics["per_class"].items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("split")


def metrics_line(split, metrics):
    """One line for the terminal: accuracy, macro-F1 and each class's recall on a split."""
    recalls = " ".join(f"{name} {values['recall']:.2f}" for name, values in metrics["per_class"].items())
    return (f"{split:>12}: accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
            f"(n={metrics['n']:,})  recall: {recalls}")


def confused_pairs(matrix, top=3):
    """The most-confused class pairs, both directions pooled: (m[i,j] + m[j,i]) / (n_i + n_j).

    Args:
        matrix: (7, 7) confusion counts, rows = true class.
        top: number of pairs to return.
    Returns:
        A pandas DataFrame (pair, a_as_b, b_as_a, errors, rate), highest rate first.
    """
    import pandas as pd

    matrix = np.asarray(matrix)
    support = matrix.sum(axis=1)
    rows = []
    for first in range(len(matrix)):
        for second in range(first + 1, len(matrix)):
            errors = int(matrix[first, second] + matrix[second, first])
            total = support[first] + support[second]
            rows.append({"pair": f"{CLASS_NAMES[first]} / {CLASS_NAMES[second]}",
                         "a_as_b": int(matrix[first, second]), "b_as_a": int(matrix[second, first]),
                         "errors": errors, "rate": errors / total if total else 0.0})
    table = pd.DataFrame(rows).sort_values(["rate", "errors"], ascending=False, kind="stable")
    return table.head(top).reset_index(drop=True)


def misclassified(y_true, y_pred, probabilities, limit=24):
    """Indices of wrong predictions, the most confident mistakes first.

    Args:
        y_true, y_pred: (N,) labels.
        probabilities: (N, 7) predicted probabilities.
        limit: at most this many indices.
    Returns:
        (K,) int indices into the inputs.
    """
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    confidence = np.asarray(probabilities)[wrong, np.asarray(y_pred)[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:limit]


TEST_SPLITS = ("PrivateTest", "PublicTest", "Test")


def resolve_split(parts, name=""):
    """The key of the split to analyse: ``name``, or for "" the first labeled one of PrivateTest, PublicTest,
    Test, else "val" (data with no labeled test split, e.g. the ML2017 train.csv alone).

    Args:
        parts: {split name: Dataset} from ``train.prepare``.
        name: a split name, or "" for the default.
    Raises:
        ValueError: the split is absent (the message lists those present).
    """
    if not name:
        labeled = [split for split in TEST_SPLITS if split in parts and parts[split].labeled]
        if labeled:
            return labeled[0]
        if "val" not in parts:
            raise ValueError(f"no labeled test or validation split in the data (splits: {', '.join(parts)})")
        return "val"
    if name not in parts:
        raise ValueError(f"split={name!r} is not in the data; present: {', '.join(parts)}")
    return name


def test_split(parts, name=""):
    """The Dataset of ``resolve_split(parts, name)``."""
    return parts[resolve_split(parts, name)]


def split_title(name):
    """How the report names a split's faces: "PrivateTest test faces", "held-out validation faces", ..."""
    if name == "val":
        return "held-out validation faces (no labeled test split in the data; checkpoints were chosen on them)"
    if name == "train":
        return "training faces"
    return f"{name} test faces"


def per_class_table(metrics):
    """Per-class precision, recall, F1 and support from ``classification_metrics`` as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(metrics["per_class"]).T.astype({"support": int})


def describe_test_accuracy(results):
    """A sentence with the accuracy and macro-F1 on each test split and, with both, their average.

    Args:
        results: {split: classification_metrics(...)} (e.g. ``run.metrics["splits"]``).
    """
    tests = [split for split in ("PublicTest", "PrivateTest", "Test") if split in results]
    if not tests:
        return "The data has no labeled test split; see the validation accuracy above."
    parts = [f"{results[s]['accuracy']:.1%} on {s} (macro-F1 {results[s]['macro_f1']:.3f}, n = {results[s]['n']:,})"
             for s in tests]
    sentence = "Test accuracy: " + "; ".join(parts) + "."
    if {"PublicTest", "PrivateTest"} <= set(tests):
        average = (results["PublicTest"]["accuracy"] + results["PrivateTest"]["accuracy"]) / 2
        sentence += f" The average of the two, the figure the original report quoted, is {average:.1%}."
    worst = min(results[tests[0]]["per_class"].items(), key=lambda item: item[1]["recall"])
    sentence += f" The hardest class on {tests[0]} is *{worst[0]}* (recall {worst[1]['recall']:.1%})."
    return sentence


def describe_confusions(matrix, top=3):
    """A sentence naming the most-confused pairs with their rates and counts."""
    pairs = confused_pairs(matrix, top)
    described = [f"*{row.pair}* ({row.rate:.1%} of their faces: {row.a_as_b} one way, {row.b_as_a} the other)"
                 for row in pairs.itertuples()]
    recall = np.diag(matrix) / np.maximum(np.asarray(matrix).sum(axis=1), 1)
    worst = int(np.argmin(np.where(np.asarray(matrix).sum(axis=1) > 0, recall, np.inf)))
    return ("The classes confused most often are " + ", then ".join(described) + ". "
            f"The class recognised worst is *{CLASS_NAMES[worst]}* (recall {recall[worst]:.1%}).")


def one_per_class(y_true, y_pred):
    """For each class, the index of its first correctly predicted face (else its first face).

    Args:
        y_true, y_pred: (N,) labels.
    Returns:
        (K,) indices, one per class present, in class order.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    picks = []
    for label in range(NUM_CLASSES):
        members = np.flatnonzero(y_true == label)
        if members.size:
            correct = members[y_pred[members] == label]
            picks.append(int(correct[0] if correct.size else members[0]))
    return np.array(picks, dtype=np.int64)


def per_class_sample(y_true, per_class, seed=0):
    """Up to ``per_class`` random indices of each class (seeded), sorted.

    Returns:
        (K,) int indices.
    """
    rng = np.random.default_rng(seed)
    y_true = np.asarray(y_true)
    picks = [rng.permutation(np.flatnonzero(y_true == label))[:per_class] for label in range(NUM_CLASSES)]
    return np.sort(np.concatenate(picks)).astype(np.int64)
