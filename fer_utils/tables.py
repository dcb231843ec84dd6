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


def layers(rows):
    """``models.layer_table`` rows as a table indexed by layer: type, output shape, parameters."""
    table = pd.DataFrame(rows).set_index("layer")
    return pd.DataFrame({"type": table["type"].map(lambda name: LAYER_TYPES.get(name, name)),
                         "output shape": table["output_shape"], "parameters": table["parameters"].map(count)},
                        index=table.index)


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
    rows = [("parameters", "parameters", count), ("train_accuracy", "training accuracy", percent),
            ("validation_accuracy", "validation accuracy", percent), ("accuracy", f"{split} accuracy", percent),
            ("macro_f1", f"{split} macro-F1", decimal),
            ("gap", f"training − {split} gap", lambda value: f"{value * 100:.1f} points"),
            ("epochs", "epochs", count), ("best_epoch", "best epoch", count),
            ("seconds_per_epoch", "seconds per epoch", lambda value: decimal(value, 1))]
    return pd.DataFrame({label: {name: formatter(values[key]) for key, name, formatter in rows if key in values}
                         for label, values in result["models"].items()})


def per_class(table):
    """``evaluate.per_class_table`` (precision, recall, F1, support per class) for reading."""
    return pd.DataFrame({"precision": table["precision"].map(decimal), "recall": table["recall"].map(percent),
                         "F1": table["f1"].map(decimal), "faces": table["support"].map(count)}, index=table.index)


def pairs(table):
    """``evaluate.confused_pairs`` indexed by the pair: each direction's count, their sum and its rate."""
    columns = {"first as second": ("a_as_b", count), "second as first": ("b_as_a", count), "errors": ("errors", count),
               "share of the two classes' faces": ("rate", percent)}
    return pd.DataFrame({label: table[key].map(formatter).to_numpy() for label, (key, formatter) in columns.items()},
                        index=pd.Index(table["pair"], name="pair"))


def region_shares(table):
    """``saliency.region_share`` (a share of saliency per face region and class) in percent."""
    return table.apply(lambda column: column.map(lambda value: percent(value, 0)))


def checks(table):
    """``saliency.SanityChecks.table`` for reading: methods by name, ✓/✗ for the checks, — where none applies."""
    columns = {"spearman_after_randomisation": ("rank correlation after randomisation", decimal),
               "passes_randomisation": ("passes randomisation", check), "deletion_auc": ("deletion AUC", decimal),
               "random_order_auc": ("random-order AUC", decimal), "faithful": ("below random order", check),
               "completeness_gap": ("completeness gap", percent)}
    return pd.DataFrame({label: table[key].map(formatter).to_numpy() for key, (label, formatter) in columns.items()
                         if key in table}, index=[narrative.method_name(name) for name in table.index])
