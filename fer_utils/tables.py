"""The report's tables formatted for reading: counts with thousands separators, percentages, ✓/✗, — for nothing.

The analysis modules return numbers (``evaluate``, ``workbook``, ``saliency``, ``models``); these functions turn
them into the DataFrames of text the notebooks display, indexed by a name (never by position), with the names a
reader knows (Integrated Gradients, not ``integrated_gradients``).
"""

import math

import pandas as pd

from fer_utils import narrative

#: Keras layer types as the report names them (splits and saliency methods: ``narrative``).
LAYER_TYPES = {"FusedBatchNormalization": "BatchNormalization (fused)"}


def _missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def count(value):
    """An integer with thousands separators ("70,551"); — for none."""
    return "—" if _missing(value) else f"{int(round(value)):,}"


def percent(value, digits=1):
    """A share as a percentage ("80.3 %"); — for none."""
    return "—" if _missing(value) else f"{value:.{digits}%}".replace("%", " %")


def decimal(value, digits=3):
    """A number with ``digits`` decimals ("0.692"); — for none."""
    return "—" if _missing(value) else f"{value:.{digits}f}"


def check(value):
    """A pass or fail as ✓ or ✗; — for none."""
    return "—" if _missing(value) else ("✓" if value else "✗")


#: Batch norm's short name in a block's type ("Conv2D + BN + ReLU").
SHORT_TYPES = {"BatchNormalization": "BN", "FusedBatchNormalization": "BN"}


def layers(rows):
    """``models.layer_table`` rows as a table of blocks (``models.layer_blocks``: a layer with weights and the batch
    norm and ReLU right after it on one row), indexed by the block's first layer: type, output shape, parameters."""
    from fer_utils import models

    blocks = models.layer_blocks(rows)
    types = [" + ".join([LAYER_TYPES.get(block["types"][0], block["types"][0])]
                        + [SHORT_TYPES.get(name, name) for name in block["types"][1:]]) for block in blocks]
    table = pd.DataFrame({"type": types, "output shape": [block["output_shape"] for block in blocks],
                          "parameters": [count(block["parameters"]) for block in blocks]},
                         index=pd.Index([block["layer"] for block in blocks]))
    table.columns.name = "layer"  # printed in the header's corner, not as a row of its own
    return table


def accuracy(table):
    """``workbook.accuracy_table`` (n, accuracy, macro_f1 per split) for reading."""
    return pd.DataFrame({"faces": table["n"].map(count).to_numpy(), "accuracy": table["accuracy"].map(percent).to_numpy(),
                         "macro-F1": table["macro_f1"].map(decimal).to_numpy()},
                        index=[narrative.split_name(name) for name in table.index])


def recall(table):
    """``workbook.recall_table`` (each class's recall per split) in percent."""
    formatted = table.apply(lambda column: column.map(percent))
    formatted.index = [narrative.split_name(name) for name in table.index]
    return formatted


def comparison(result):
    """``workbook.comparison``'s result as one column per model, each row formatted as it reads."""
    split = narrative.split_name(result["split"])
    others = list(dict.fromkeys(name for values in result["models"].values()
                                for name in values.get("test_accuracies", {}) if name != result["split"]))
    rows = [("parameters", "parameters", count), ("train_accuracy", "training accuracy", percent),
            ("validation_accuracy", "validation accuracy", percent),
            *[(("test_accuracies", name), f"{name} accuracy", percent) for name in others],
            ("accuracy", f"{split} accuracy", percent), ("macro_f1", f"{split} macro-F1", decimal),
            ("printed_gap", f"training − {split} gap", lambda value: f"{value:.1f} points"),
            ("epochs", "epochs", count), ("best_epoch", "best epoch", count),
            ("seconds_per_epoch", "seconds per epoch", lambda value: decimal(value, 1))]
    def value(values, key):  # a key, or (key, split) inside "test_accuracies"; None when the model lacks it
        if isinstance(key, tuple):
            return values.get(key[0], {}).get(key[1])
        if key == "printed_gap":  # the difference of the two accuracies as this table prints them
            return None if "train_accuracy" not in values else narrative.points(values["train_accuracy"],
                                                                                  values["accuracy"])
        return values.get(key)

    return pd.DataFrame({label: {name: formatter(value(values, key)) for key, name, formatter in rows
                                 if value(values, key) is not None}
                         for label, values in result["models"].items()})


def per_class(table, predicted=None):
    """``evaluate.per_class_table`` (precision, recall, F1, support per class) for reading: precision and recall in
    percent, F1 as a decimal; with ``predicted`` (faces predicted as each class, same order), a column of them, so
    a precision resting on one prediction shows it."""
    precision = [percent(value) if predicted is None or predicted[index] else "—"  # 0 / 0: never predicted
                 for index, value in enumerate(table["precision"])]
    formatted = pd.DataFrame({"precision": precision, "recall": table["recall"].map(percent),
                              "F1": table["f1"].map(decimal), "faces": table["support"].map(count)},
                             index=pd.Index(list(table.index)))
    if predicted is not None:
        formatted["predicted as it"] = [count(value) for value in predicted]
    return formatted


#: How ``counts`` names a part of ``workbook.split_counts``.
PART_NAMES = {"train": "training (trained on)", "unused": "training (not used)", "val": "validation"}


def counts(table):
    """Faces per part and class (``workbook.split_counts`` or ``data.Dataset.counts``) with thousands separators
    and the parts as the report names them."""
    formatted = table.apply(lambda column: column.map(count))
    formatted.index = pd.Index([PART_NAMES.get(name, name) for name in table.index])
    formatted.columns.name = "split"
    return formatted


def pairs(table):
    """``evaluate.confused_pairs`` indexed by the pair: each direction's count, their sum and its rate."""
    columns = {"first as second": ("a_as_b", count), "second as first": ("b_as_a", count), "errors": ("errors", count),
               "share of the two classes' faces": ("rate", percent)}
    formatted = pd.DataFrame({label: table[key].map(formatter).to_numpy() for label, (key, formatter) in columns.items()},
                             index=pd.Index(list(table["pair"])))
    formatted.columns.name = "pair"
    return formatted


def region_shares(table, density=None):
    """``saliency.region_share`` (a share of saliency per face region and class) in percent, and, given
    ``saliency.region_density`` (same rows), its per-pixel multiples ("1.57×") as the last columns."""
    formatted = table.apply(lambda column: column.map(lambda value: percent(value, 0)))
    if density is not None:
        for name in density.columns:
            formatted[f"{name} per pixel"] = [f"{value:.2f}×" for value in density[name]]
    return formatted


def checks(table):
    """``saliency.SanityChecks.table`` for reading: methods by name, ✓/✗ for the checks, — where none applies."""
    columns = {"spearman_after_randomisation": ("rank correlation after randomisation", decimal),
               "passes_randomisation": ("passes randomisation", check), "deletion_auc": ("deletion AUC", decimal),
               "random_order_auc": ("random-order AUC", decimal), "faithful": ("below random order", check),
               "completeness_gap": ("completeness gap", percent)}
    return pd.DataFrame({label: table[key].map(formatter).to_numpy() for key, (label, formatter) in columns.items()
                         if key in table}, index=[narrative.method_name(name) for name in table.index])
