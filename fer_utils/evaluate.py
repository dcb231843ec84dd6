"""Predictions and the metrics the report quotes: accuracy, macro-F1, per-class recall, confusion matrix."""

import numpy as np

from fer_utils import CLASS_NAMES, NUM_CLASSES, data, errors


def predict_probabilities(model, x, batch_size=256, tta="none"):
    """Class probabilities for raw-pixel images, averaged over test-time views.

    Args:
        model: a Keras model ending in softmax probabilities (an ensemble model averages its members).
        x: (N, 48, 48, 1) uint8 images.
        batch_size: inference batch size.
        tta: test-time augmentation, one of ``fer_utils.config.TTA_MODES``: "none", "flip" (the face
            and its mirror image) or "ten_crop" (five shifted windows and their mirrors).
    Returns:
        (N, 7) float32 probabilities.
    Raises:
        ValueError: unknown ``tta``.
    """
    from fer_utils import augment  # Keras: imported on first prediction, so `render` and --help start at once

    x = np.asarray(x, dtype=np.float32)  # (N, 48, 48, 1)
    views = augment.views(x, tta)
    probabilities = sum(_predict(model, view, batch_size) for view in views) / len(views)
    return np.asarray(probabilities, dtype=np.float32)


def run_probabilities(run, x, tta=None, batch_size=256):
    """(N, 7) probabilities of a trained run (``runs.Run``: its model, or its members' average) for raw-pixel
    faces, with the run's test-time augmentation unless ``tta`` is given."""
    return predict_probabilities(run.load_model(), x, batch_size=batch_size, tta=tta or run.tta)


def _predict(model, x, batch_size):
    """``model.predict(x, batch_size)``: the same numbers, fed by a plain tf.data pipeline.

    Given arrays, ``model.predict`` slices them with a tf.data parallel map; once training has enabled op
    determinism, tf.data rewrites that map into a sequential one and TensorFlow 2.21 logs a spurious
    ``E0000 ... node_def_util.cc ... use_unbounded_threadpool`` line on every call. Batches of a dataset
    without a map run the same compiled step (traced once: the batch dimension stays unknown). Anything else
    with a ``predict`` method (a stand-in model in a test) gets the arrays.
    """
    import keras
    import tensorflow as tf  # the project's backend (see models.FusedBatchNormalization)

    if not isinstance(model, keras.Model):
        return model.predict(x, batch_size=batch_size, verbose=0)
    if len(x) == 0:  # model.predict fails on an empty dataset
        return np.zeros((0, *model.output_shape[1:]), np.float32)
    return model.predict(tf.data.Dataset.from_tensor_slices(x).batch(batch_size), verbose=0)


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
    """The most-confused class pairs as a table (see ``confusion_summary``), highest rate first.

    Returns:
        A pandas DataFrame with columns pair ("a / b"), a_as_b, b_as_a, errors, rate.
    """
    import pandas as pd

    rows = [{"pair": f"{pair['first']} / {pair['second']}", "a_as_b": pair["first_as_second"],
             "b_as_a": pair["second_as_first"], "errors": pair["errors"], "rate": pair["rate"]}
            for pair in confusion_summary(matrix, top)["pairs"]]
    return pd.DataFrame(rows, columns=["pair", "a_as_b", "b_as_a", "errors", "rate"])


def mcnemar(y_true, first, second):
    """McNemar's exact test of two classifiers on the same faces (McNemar 1947; the exact binomial form).

    Only the faces where exactly one of the two is right count: under "equally accurate" each such face is
    a fair coin, so the p-value is the two-sided binomial tail of the smaller count.

    Args:
        y_true: (N,) labels.
        first, second: (N,) predictions of the two classifiers on the same faces, in the same order.
    Returns:
        {"n": N, "first_only": faces only ``first`` gets right, "second_only": only ``second``, "p_value"}.
    """
    from scipy import stats

    y_true, first, second = (np.asarray(values) for values in (y_true, first, second))
    first_only = int(np.sum((first == y_true) & (second != y_true)))
    second_only = int(np.sum((second == y_true) & (first != y_true)))
    discordant = first_only + second_only
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(first_only, discordant, 0.5).pvalue)
    return {"n": int(len(y_true)), "first_only": first_only, "second_only": second_only, "p_value": p_value}


#: A difference between the gallery's faces and correctly classified ones is named when it reaches this many
#: pooled standard deviations (Cohen's d; 0.5 is Cohen's "medium" effect).
NOTABLE_EFFECT = 0.5


def gallery_profile(images, y_true, y_pred, probabilities, shown):
    """What sets the shown mistakes apart from correctly classified faces: their classes, brightness, contrast
    and the model's confidence, each difference as Cohen's d.

    Args:
        images: (N, 48, 48[, 1]) raw pixels; y_true, y_pred: (N,) labels; probabilities: (N, 7).
        shown: indices of the mistakes in the gallery (``misclassified``).
    Returns:
        {"shown": K, "true": [(class, count)] most first, "predicted": [(class, count)] most first,
         "measures": {"brightness"|"contrast"|"confidence": {"mistakes", "correct", "d"}}} (brightness: mean
         pixel and contrast: pixel standard deviation, of the shown mistakes; confidence: the predicted class's
         probability, of every mistake, since the shown ones are the most confident by choice).
    """
    images = np.asarray(images, np.float64)
    images = images.reshape(len(images), -1)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    probabilities, shown = np.asarray(probabilities), np.asarray(shown, int)
    correct = np.flatnonzero(y_true == y_pred)
    values = {"brightness": images.mean(axis=1), "contrast": images.std(axis=1),
              "confidence": probabilities[np.arange(len(y_pred)), y_pred]}
    measures = {}
    wrong = np.flatnonzero(y_true != y_pred)
    for name, value in values.items():
        first, second = value[wrong if name == "confidence" else shown], value[correct]
        pooled = np.sqrt((first.var() + second.var()) / 2) if len(first) and len(second) else 0.0
        d = float((first.mean() - second.mean()) / pooled) if pooled > 0 else 0.0
        measures[name] = {"mistakes": float(first.mean()) if len(first) else float("nan"),
                          "correct": float(second.mean()) if len(second) else float("nan"), "d": d}

    def tally(labels):
        counts = np.bincount(labels, minlength=NUM_CLASSES)
        order = np.argsort(-counts, kind="stable")
        return [(CLASS_NAMES[k], int(counts[k])) for k in order if counts[k]]

    return {"shown": int(len(shown)), "true": tally(y_true[shown]), "predicted": tally(y_pred[shown]),
            "measures": measures}


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


#: The labeled splits a run is tested on, in the canonical order of ``data.USAGES``.
TEST_SPLITS = data.USAGES[1:]
#: The split Q3-Q5 analyse when present: PrivateTest, the course's final ranking.
PREFERRED_SPLIT = "PrivateTest"


def resolve_split(parts, name=""):
    """The key of the split to analyse: ``name``, or for "" PrivateTest when labeled, else the first labeled
    test split, else "val" (data with no labeled test split, e.g. the ML2017 train.csv alone).

    Args:
        parts: {split name: Dataset} from ``Run.parts``.
        name: a split name, or "" for the default.
    Raises:
        fer_utils.errors.InputError: the split is absent (the message lists those present).
    """
    if not name:
        labeled = [split for split in TEST_SPLITS if split in parts and parts[split].labeled]
        if labeled:
            return PREFERRED_SPLIT if PREFERRED_SPLIT in labeled else labeled[0]
        if "val" not in parts:
            raise errors.InputError(f"no labeled test or validation split in the data (splits: {', '.join(parts)})")
        return "val"
    if name not in parts:
        raise errors.InputError(f"split={name!r} is not in the data; present: {', '.join(parts)}")
    return name


def per_class_table(metrics):
    """Per-class precision, recall, F1 and support from ``classification_metrics`` as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(metrics["per_class"]).T.astype({"support": int})


def confusion_summary(matrix, top=3):
    """The confusion matrix's findings: the most-confused pairs (both directions pooled, as a share of the two
    classes' faces: (m[i,j] + m[j,i]) / (n_i + n_j)) and the class recognised worst.

    Args:
        matrix: (7, 7) confusion counts, rows = true class.
        top: number of pairs.
    Returns:
        {"pairs": [{"first", "second" (class names), "first_as_second", "second_as_first", "errors", "rate"}]
         highest rate first (ties: more errors, then class order), "worst": {"class", "recall", "to": the class
        it is most often taken for, "to_share": that share of its faces} (the worst among classes with faces),
         "rarest": {"class", "support", "recall", "share" of all faces}, "absorbing": {"class" that receives the
         most wrong predictions, "received", "share" of all "errors"}, "never_predicted": classes with faces that
         the model never predicts}.
    """
    matrix = np.asarray(matrix)
    support = matrix.sum(axis=1)
    pairs = []
    for first in range(len(matrix)):
        for second in range(first + 1, len(matrix)):
            count = int(matrix[first, second] + matrix[second, first])
            total = support[first] + support[second]
            pairs.append({"first": CLASS_NAMES[first], "second": CLASS_NAMES[second],
                          "first_as_second": int(matrix[first, second]), "second_as_first": int(matrix[second, first]),
                          "errors": count, "rate": float(count / total) if total else 0.0})
    pairs.sort(key=lambda pair: (-pair["rate"], -pair["errors"]))  # stable: class order on ties
    recall = np.diag(matrix) / np.maximum(support, 1)
    worst = int(np.argmin(np.where(support > 0, recall, np.inf)))
    present = np.flatnonzero(support > 0)
    rarest = int(present[np.argmin(support[present])]) if present.size else worst
    errors = matrix - np.diag(np.diag(matrix))
    received = errors.sum(axis=0)  # wrong predictions of each class
    absorbing = int(np.argmax(received))
    row = errors[worst]
    destination = int(np.argmax(row))
    return {"pairs": pairs[:top],
            "worst": {"class": CLASS_NAMES[worst], "recall": float(recall[worst]),
                      "to": CLASS_NAMES[destination],
                      "to_share": float(row[destination] / support[worst]) if support[worst] else 0.0},
            "rarest": {"class": CLASS_NAMES[rarest], "support": int(support[rarest]), "recall": float(recall[rarest]),
                       "share": float(support[rarest] / max(support.sum(), 1))},
            "absorbing": {"class": CLASS_NAMES[absorbing], "received": int(received[absorbing]),
                          "share": float(received[absorbing] / max(errors.sum(), 1)),
                          "errors": int(errors.sum())},
            "never_predicted": [CLASS_NAMES[k] for k in range(len(matrix))
                                if support[k] > 0 and matrix[:, k].sum() == 0]}


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
