"""Predictions and the metrics the report quotes: accuracy, macro-F1, per-class recall, confusion matrix."""

import numpy as np

from fer_utils import CLASS_NAMES, NUM_CLASSES


def predict_probabilities(model, x, batch_size=256, flip_tta=False):
    """Class probabilities for raw-pixel images.

    Args:
        model: a Keras model ending in softmax probabilities.
        x: (N, 48, 48, 1) uint8 images.
        batch_size: inference batch size.
        flip_tta: also predict the horizontally flipped faces and average (test-time augmentation).
    Returns:
        (N, 7) float32 probabilities.
    """
    x = np.asarray(x, dtype=np.float32)  # (N, 48, 48, 1)
    probabilities = model.predict(x, batch_size=batch_size, verbose=0)
    if flip_tta:
        probabilities = (probabilities + model.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0)) / 2
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


def evaluate_splits(model, parts, batch_size=256, flip_tta=False):
    """Metrics for each labeled split.

    Args:
        model: a Keras classifier.
        parts: {split name: fer_utils.data.Dataset}; unlabeled splits are skipped.
        batch_size: inference batch size.
        flip_tta: average with horizontally flipped predictions.
    Returns:
        {split name: classification_metrics(...)}.
    """
    results = {}
    for name, part in parts.items():
        if len(part) == 0 or not part.labeled:
            continue
        predicted = predict_probabilities(model, part.x, batch_size, flip_tta).argmax(axis=1)
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
