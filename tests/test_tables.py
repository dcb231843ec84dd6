"""Tests for fer_utils.tables: the report's tables as a reader reads them (issue 22's raw pandas)."""

import pandas as pd

from fer_utils import tables


def test_numbers_read_as_counts_percentages_and_marks():
    assert tables.count(70551.0) == "70,551" and tables.count(None) == "—"
    assert tables.percent(0.8034) == "80.3 %" and tables.percent(float("nan")) == "—"
    assert tables.decimal(0.69234) == "0.692" and tables.check(True) == "✓" and tables.check(False) == "✗"


def test_layer_table_folds_a_convolutions_batch_norm_and_relu_into_its_row():
    rows = [{"layer": "conv1_1", "type": "Conv2D", "output_shape": "48x48x16", "parameters": 144},
            {"layer": "bn1_1", "type": "FusedBatchNormalization", "output_shape": "48x48x16", "parameters": 64},
            {"layer": "relu1_1", "type": "ReLU", "output_shape": "48x48x16", "parameters": 0},
            {"layer": "pool1", "type": "MaxPooling2D", "output_shape": "24x24x16", "parameters": 0},
            {"layer": "bn_lone", "type": "FusedBatchNormalization", "output_shape": "24x24x16", "parameters": 32}]
    table = tables.layers(rows)
    assert list(table.index) == ["conv1_1", "pool1", "bn_lone"], "issue 22: a block per row keeps Q1 and Q2 short"
    assert table.loc["conv1_1", "type"] == "Conv2D + BN + ReLU" and table.loc["conv1_1", "parameters"] == "208"
    assert table.loc["bn_lone", "type"] == "BatchNormalization (fused)", "a batch norm after no weights stays alone"


def test_comparison_has_no_raw_floats():
    values = {"parameters": 70551, "train_accuracy": 0.9, "validation_accuracy": 0.8, "accuracy": 0.803,
              "macro_f1": 0.69, "gap": 0.097, "epochs": 10, "best_epoch": 9, "seconds_per_epoch": 8.61}
    table = tables.comparison({"split": "PrivateTest", "models": {"CNN": values, "DNN": {**values, "epochs": 40}}})
    assert table.loc["parameters", "CNN"] == "70,551" and table.loc["epochs", "DNN"] == "40"
    assert table.loc["PrivateTest accuracy", "CNN"] == "80.3 %" and table.loc["training − PrivateTest gap", "CNN"] == "9.7 points"
    assert not any(".000" in text for text in table.to_numpy().ravel())
    tested = {**values, "test_accuracies": {"PublicTest": 0.791, "PrivateTest": 0.803}}
    table = tables.comparison({"split": "PrivateTest", "models": {"CNN": tested, "DNN": tested}})
    assert list(table.index[:5]) == ["parameters", "training accuracy", "validation accuracy", "PublicTest accuracy",
                                     "PrivateTest accuracy"], "issue 22: page 1's DNN PublicTest figure is in a table"
    assert table.loc["PublicTest accuracy", "DNN"] == "79.1 %"


def test_checks_table_uses_method_names_marks_and_dashes():
    raw = pd.DataFrame({"spearman_after_randomisation": [0.1, 0.6], "passes_randomisation": [True, False],
                        "deletion_auc": [0.17, 0.3], "random_order_auc": [0.4, 0.4], "faithful": [True, True],
                        "completeness_gap": [float("nan"), 0.031]}, index=["grad_cam", "integrated_gradients"])
    table = tables.checks(raw)
    assert list(table.index) == ["Grad-CAM", "Integrated Gradients"]
    assert table.loc["Grad-CAM", "passes randomisation"] == "✓" and table.loc["Integrated Gradients", "passes randomisation"] == "✗"
    assert table.loc["Grad-CAM", "completeness gap"] == "—" and table.loc["Integrated Gradients", "completeness gap"] == "3.1 %"


def test_pairs_are_indexed_by_pair_with_readable_columns():
    raw = pd.DataFrame({"pair": ["fear / surprise"], "a_as_b": [12], "b_as_a": [7], "errors": [19], "rate": [0.107]})
    table = tables.pairs(raw)
    assert list(table.index) == ["fear / surprise"] and "a_as_b" not in table.columns
    assert table.loc["fear / surprise", "share of the two classes' faces"] == "10.7 %"


def test_the_gap_is_the_difference_of_the_accuracies_as_printed():
    values = {"parameters": 70551, "train_accuracy": 0.8174, "validation_accuracy": 0.79, "accuracy": 0.8006,
              "macro_f1": 0.69, "gap": 0.0168, "epochs": 10, "best_epoch": 9, "seconds_per_epoch": 8.0}
    table = tables.comparison({"split": "PrivateTest", "models": {"CNN": values}})
    assert table.loc["training accuracy", "CNN"] == "81.7 %" and table.loc["PrivateTest accuracy", "CNN"] == "80.1 %"
    assert table.loc["training − PrivateTest gap", "CNN"] == "1.6 points", "issue 22: 81.7 − 80.1, not 1.68 rounded"
