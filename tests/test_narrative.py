"""Tests for fer_utils.narrative: every sentence of the report on fixed, hand-checkable results."""

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from fer_utils import config, evaluate, narrative


def _metrics(accuracy, n=100, recall=None):
    recall = recall or {name: accuracy for name in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")}
    return {"n": n, "accuracy": accuracy, "macro_f1": accuracy - 0.1,
            "per_class": {name: {"precision": value, "recall": value, "f1": value, "support": 10}
                          for name, value in recall.items()}}


def test_training_recipe_says_bfloat16_only_when_the_run_trains_in_it(tmp_path, monkeypatch):
    from fer_utils import precision

    forced = config.resolve("cpu", precision="bfloat16")
    assert "trained in bfloat16 mixed precision (float32 weights, logits and loss)" in narrative.training_recipe(forced)
    assert "以 bfloat16 混合精度訓練" in narrative.training_recipe(forced, "zh")
    assert "bfloat16" not in narrative.training_recipe(config.resolve("cpu", precision="float32"))
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert "bfloat16" not in narrative.training_recipe(config.resolve("cpu"))  # auto, no native bfloat16
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    assert "bfloat16" in narrative.training_recipe(config.resolve("cpu"))


def test_training_recipe_follows_the_policy_the_run_recorded_over_this_cpu():
    forced = config.resolve("cpu", precision="bfloat16")
    on_gpu = narrative.training_recipe(forced, policy="mixed_float16")  # a GPU run: its policy, not this CPU's
    assert "trained in float16 mixed precision (float32 weights, logits and loss)" in on_gpu
    assert "bfloat16" not in on_gpu
    assert "以 float16 混合精度訓練" in narrative.training_recipe(forced, "zh", policy="mixed_float16")
    assert "mixed precision" not in narrative.training_recipe(forced, policy="float32")
    assert "trained in bfloat16" in narrative.training_recipe(config.resolve("cpu", precision="float32"),
                                                              policy="mixed_bfloat16")
    with pytest.raises(ValueError, match="policy='float16'"):
        narrative.training_recipe(forced, policy="float16")


def test_training_recipe_names_the_profile_settings():
    text = narrative.training_recipe(config.resolve("cpu"))
    budget = config.resolve("cpu").time_budget
    assert "Profile `cpu`" in text and "batch 128" in text and f"{budget:g}-minute budget" in text
    assert "random erasing of 25% of the faces" in text and "ten crops" in text
    assert "rotations up to 14.4°" in text and "shifts up to 10%" in text
    assert "SWA" not in text
    assert "CutMix" not in text and "CutMix" not in narrative.training_recipe(config.resolve("cpu"), "zh")
    mixed = config.resolve("cpu", cutmix=0.5)
    assert "random erasing of 25% of the faces and CutMix on 50% of the faces (a patch" in narrative.training_recipe(mixed)
    assert "對 50% 的臉做 CutMix" in narrative.training_recipe(mixed, "zh")
    averaged = narrative.training_recipe(config.resolve("cpu", average_tail=0.25))
    assert "cosine decay, the weights of the epochs in its last 25% averaged (SWA);" in averaged
    quick = narrative.training_recipe(config.resolve("quick"), rows=(8000, 25838))
    assert "mirrored face" in quick and "8,000 of the 25,838 training faces" in quick and "rotations" not in quick
    assert "SWA" not in quick


def test_training_recipe_says_nothing_about_what_is_off():
    """Issue 22: the quick profile has no warm-up, no label smoothing, and a patience as long as its epoch cap."""
    quick = config.resolve("quick")
    for lang in ("en", "zh"):
        text = narrative.training_recipe(quick, lang, rows=(8000, 25838))
        assert "warm-up" not in text and "label smoothing" not in text, text
        assert "early stopping" not in text and "提早停止" not in text, "patience 10 with 10 epochs cannot stop a run"
        assert "8,000" in text and "25,838" in text
        assert "（" not in text.split("時間預算")[-1][:40] if lang == "zh" else True
    full = narrative.training_recipe(config.resolve("full"))
    assert "5-epoch linear warm-up" in full and "label smoothing 0.1" in full and "early stopping after 50" in full
    assert "weight decay" not in narrative.training_recipe(config.resolve("quick", weight_decay=0.0))


def test_profiles_table_has_a_row_per_profile():
    text = narrative.profiles([config.resolve(name) for name in config.PROFILE_NAMES])
    lines = text.splitlines()
    assert len(lines) == 2 + len(config.PROFILE_NAMES)
    assert "| `quick` | `vgg_small` | 8,000 | 10 | 1.5 min |" in lines
    assert "| `full` | `vgg` | all | 300 | none |" in lines


def test_training_sentence_reads_the_metrics():
    metrics = {"splits": {"val": _metrics(0.6543)}, "epochs_run": 7, "best_epoch": 6, "stopped_by": "time_budget",
               "train_seconds": 90.4, "device": "CPU", "seconds_per_epoch": 12.91, "train_images_per_second": 620.2}
    text = narrative.training(metrics)
    assert text == ("Training ran 7 epochs and stopped because its time budget ran out; the best epoch was 6 with "
                    "validation accuracy 65.4%. It took 90 s on the CPU (12.9 s per epoch, 620 images/s).")
    averaged = {**metrics, "weight_average": {"epochs": [5, 6, 7], "val_accuracy": 0.6601,
                                              "best_epoch_val_accuracy": 0.6512, "used": True}}
    assert narrative.training(averaged) == (
        "Training ran 7 epochs and stopped because its time budget ran out; the best epoch was 6 with validation "
        "accuracy 65.1%. The average of the weights of epochs 5–7 (SWA, batch norm recomputed) reached 66.0% on "
        "validation and replaced the best epoch. It took 90 s on the CPU (12.9 s per epoch, 620 images/s).")
    assert "第 5–7 個 epoch 的權重平均" in narrative.training(averaged, lang="zh")
    kept_best = {**averaged, "weight_average": {**averaged["weight_average"], "used": False}}
    assert "scored below the best epoch and was not kept" in narrative.training(kept_best)
    curves = pd.DataFrame({"val_accuracy": [0.5, 0.61, 0.6, 0.62, 0.6, 0.6321, 0.63]})
    ten_crop = {**metrics, "tta": "ten_crop"}
    assert ("the best epoch was 6. It was picked on the curve's single-view validation accuracy (63.2%); with "
            "test-time augmentation it scores 65.4%. It took") in narrative.training(ten_crop, history=curves), \
        "the real-data workbook: the sentence said 67.9% at the epoch where Figure 1's curve shows 66.1%"
    assert "第 6 個 epoch。它是依曲線上單一視角的 validation 準確率（63.2%）挑出的；加上 test-time augmentation 是 65.4%。" in \
        narrative.training(ten_crop, "zh", history=curves)
    last = narrative.training({**ten_crop, "best_epoch": 7}, history=curves)
    assert "the best epoch was 7: the last one, so it was still improving" in last and "accuracy (63.0%)" in last
    assert narrative.training({**metrics, "tta": "none"}, history=curves) == text, "one view: one number"


def test_test_accuracy_averages_public_and_private_and_names_the_analysed_split():
    splits = {"PublicTest": _metrics(0.75), "PrivateTest": _metrics(1.0, recall={"angry": 0.9, "fear": 0.2})}
    text = narrative.test_accuracy(splits, "PrivateTest")
    assert "75.0% on PublicTest" in text and "100.0% on PrivateTest" in text and "is 87.5%" in text
    assert "hardest class on PrivateTest is *fear* (recall 20.0%)" in text
    only_val = narrative.test_accuracy({"train": _metrics(0.9), "val": _metrics(0.5, recall={"sad": 0.1})}, "val")
    assert "no labeled test split" in only_val and "50.0%" in only_val and "on validation is *sad*" in only_val


def test_comparison_quotes_both_models_and_their_gaps():
    result = {"split": "PrivateTest", "tta": "flip", "models": {
        "CNN": {"parameters": 1000, "accuracy": 0.8, "gap": 0.05, "seconds_per_epoch": 10.0},
        "DNN": {"parameters": 1010, "accuracy": 0.4, "gap": 0.2, "seconds_per_epoch": 2.0}}}
    text = narrative.comparison(result)
    assert ("On PrivateTest the CNN reaches 80.0% and the DNN 40.0%, +40.0 points for the CNN with about the same "
            "number of parameters (1,000 against 1,010)") in text
    assert "兩者參數量幾乎相同（1,000 對 1,010）" in narrative.comparison(result, "zh") and "倍" not in \
        narrative.comparison(result, "zh")
    larger = {**result, "models": {**result["models"], "DNN": {**result["models"]["DNN"], "parameters": 500}}}
    assert "2.00x the parameters (1,000 against 500)" in narrative.comparison(larger)
    assert "(both with predictions averaged with the mirrored face) is 5.0 points for the CNN and 20.0 for the DNN" in text
    assert "10.0 s against 2.0 s" in text


def test_the_difference_in_points_is_the_difference_of_the_printed_accuracies():
    """Issue 22 (a TA's read): 80.3 % and 43.1 % were printed with "+37.3 points" (from 80.34 - 43.06)."""
    result = {"split": "PrivateTest", "tta": "flip", "models": {
        "CNN": {"parameters": 1000, "accuracy": 0.8034, "gap": 0.05, "seconds_per_epoch": 10.0},
        "DNN": {"parameters": 1000, "accuracy": 0.4306, "gap": 0.2, "seconds_per_epoch": 2.0}}}
    assert "80.3% and the DNN 43.1%, +37.2 points" in narrative.comparison(result)
    assert "CNN 高了 37.2 個百分點" in narrative.comparison(result, "zh")


def test_confusions_name_pairs_and_the_worst_class():
    matrix = [[10, 0, 0, 0, 0, 0, 0], [0, 10, 0, 0, 0, 0, 0], [0, 0, 8, 0, 0, 2, 0], [0, 0, 0, 10, 0, 0, 0],
              [0, 0, 0, 0, 10, 0, 0], [0, 0, 3, 0, 0, 7, 0], [0, 0, 0, 0, 0, 0, 10]]
    summary = evaluate.confusion_summary(matrix, top=1)
    assert narrative.confusions(summary) == (
        "Ranked by the share of their faces taken for each other, the classes confused most often are "
        "*fear / surprise* (25.0% of their faces: 2 one way, 3 the other).")
    assert narrative.class_errors(summary) == (
        "The class recognised worst is *surprise* (recall 70.0%); 30.0% of its faces are taken for *fear*. "
        "The rarest class is *angry*, 10 faces (14.3%), with recall 100.0%. The class that absorbs the most errors "
        "is *fear*: 3 of the 5 wrong predictions (60.0%) name it.")
    never = {**summary, "worst": {**summary["worst"], "recall": 0.0}, "never_predicted": ["disgust"]}
    assert "一張都沒認對（recall 0.0%）" in narrative.class_errors(never, "zh")
    assert "The model never predicts *disgust*." in narrative.class_errors(never)
    assert "它也是張數最少的 class" in narrative.class_errors(
        {**summary, "rarest": {**summary["rarest"], "class": "surprise"}}, "zh"), "the worst class can be the rarest"


def test_the_gallery_names_a_difference_only_from_half_a_standard_deviation():
    profile = {"shown": 24, "true": [("fear", 11), ("sad", 5)], "predicted": [("surprise", 9), ("happy", 4)],
               "measures": {"brightness": {"mistakes": 98.0, "correct": 121.0, "d": -0.62},
                            "contrast": {"mistakes": 44.0, "correct": 45.0, "d": -0.05},
                            "confidence": {"mistakes": 0.55, "correct": 0.81, "d": -1.52}}}
    text = narrative.gallery(profile)
    assert "the most common true class is *fear* (11) and the most common answer *surprise* (9)" in text
    assert "They are darker than correctly classified faces (mean 98 against 121, Cohen's d = -0.62)" in text
    assert "Their contrast (d = -0.05) differs from correctly classified faces' by less than 0.5 standard" in text
    assert "55.0% on average over all mistakes against 81.4%" not in text and "against 81.0%" in text
    zh = narrative.gallery(profile, "zh")
    assert "真實 class 最多的是恐懼（fear），有 11 張" in zh and "亮度比答對的臉低" in zh and "這一項上" in zh
    level = {**profile, "measures": {**profile["measures"], "confidence": {"mistakes": 0.8, "correct": 0.81, "d": -0.1}}}
    assert "about as confident on its mistakes" in narrative.gallery(level)


def test_region_share_sentence():
    summary = {"upper_share": 0.3, "mouth_share": 0.22, "upper_area": 0.2, "mouth_area": 0.1, "ratio": 1.7333,
               "mouth_heavy_classes": ["happy", "surprise"]}
    text = narrative.region_share(summary)
    assert text.startswith("On average 30% of the saliency falls on the brows and eyes, which cover 20% of the image")
    assert "(1.50 times an even spread per pixel), and 22% on the mouth, which covers 10% (2.20 times)" in text
    assert "Per pixel, the mouth weighs more than brows and eyes for *happy* and *surprise*." in text
    zh = narrative.region_share({**summary, "mouth_heavy_classes": []}, "zh")
    assert "以每個像素來看，每個 class 都是眉毛和眼睛至少和嘴巴一樣受重視。" in zh and "：沒有" not in zh
    unrounded = {**summary, "upper_share": 0.204, "upper_area": 0.156}  # 20% on 16%: 1.31, as the table's column
    assert "(1.31 times" in narrative.region_share(unrounded), "the per-pixel multiple Table 9 prints"


def test_checks_state_the_threshold_the_values_and_ties():
    table = pd.DataFrame({"spearman_after_randomisation": [0.12, 0.501, 0.3], "passes_randomisation": [True, False, True],
                          "faithful": [True, False, True], "deletion_auc": [0.1731, 0.5, 0.1729],
                          "random_order_auc": [0.4, 0.4, 0.4], "completeness_gap": [float("nan"), 0.031, float("nan")]},
                         index=["vanilla", "integrated_gradients", "grad_cam"])
    text = narrative.checks(table)
    assert "(threshold 0.5) falls below the threshold for vanilla gradient 0.12 and Grad-CAM 0.30: they pass" in text
    assert "it stays above for Integrated Gradients 0.50, which fails" in text
    assert "random order gives 0.400, and vanilla gradient and Grad-CAM go at least 0.01 below it" in text
    assert "The lowest are vanilla gradient and Grad-CAM, tied at 0.173." in text, "a tie is said as a tie"
    assert "below it; Integrated Gradients (0.500) does not: no better than random order." in text, \
        "a method not below random order by the margin is named"
    assert "vanilla gradient 0.12 和 Grad-CAM 0.30" in narrative.checks(table, "zh"), "spaces around Latin names"
    assert "within 3.1% on average" in text
    zh = narrative.checks(table, "zh")
    assert "門檻 0.5" in zh and "並列 0.173" in zh and "Integrated Gradients 0.50 沒有掉到門檻以下，沒通過" in zh
    assert "integrated_gradients" not in text + zh, "methods by their names, not the code's"
    assert "ask different things" not in text, "no lowest method fails randomisation here"
    assert "Grad-CAM 比它低至少 0.01" in zh, "a Latin name is spaced from the Chinese after it"
    none = table.assign(faithful=[False, False, False], deletion_auc=[0.41, 0.5, 0.42])
    assert ("random order gives 0.400, and no method goes at least 0.01 below it: vanilla gradient (0.410), "
            "Integrated Gradients (0.500) and Grad-CAM (0.420) are no better than random order.") in \
        narrative.checks(none), "the real-data workbook's case: one clause, no 'no method go ... do not'"
    assert ("沒有任何方法比它低至少 0.01：vanilla gradient（0.410）、Integrated Gradients（0.500）和 Grad-CAM（0.420）"
            "都不比隨機順序好。") in narrative.checks(none, "zh")
    lowest_fails = table.assign(deletion_auc=[0.2, 0.1, 0.3])
    assert "Integrated Gradients has the lowest deletion AUC yet fails the randomisation check" in \
        narrative.checks(lowest_fails)


def test_filter_classes_sentence():
    summary = {"layer": "conv3_2", "filters": 64, "k": 9, "dominant_counts": {"happy": 40, "surprise": 24},
               "selective": 12, "most_selective": {"filter": 5, "class": "happy", "share": 1.0},
               "never_dominant": ["disgust"]}
    text = narrative.filter_classes(summary)
    assert "Of the 64 filters of `conv3_2`" in text and "top 9 faces is: *happy* 40, *surprise* 24" in text
    assert "the highest one-class share is filter 5 (*happy*)'s, 100%." in text
    assert "No filter is dominated by *disgust*." in text
    two = {**summary, "never_dominant": ["disgust", "neutral"]}
    assert "No filter is dominated by *disgust* or *neutral*." in narrative.filter_classes(two)
    assert "沒有任何 filter 以厭惡（disgust）或中性（neutral）為主。" in narrative.filter_classes(two, "zh")
    tied = {**summary, "top_share": 1.0, "at_top_share": [{"filter": index, "class": "happy"} for index in range(10)]}
    assert "10 filters tie at the highest one-class share, 100%: filters 0 (*happy*)" in narrative.filter_classes(tied)
    assert "有 10 個 filter 並列最高，前幾名 100% 屬於同一類：第 0 號（開心）、第 1 號（開心）" in \
        narrative.filter_classes(tied, "zh"), "issue 22: not 'the most selective', and no nested brackets"


def test_audit_sentence_mentions_only_what_was_found():
    summary = {"rows": 200, "exact_copies": 4, "exact_sets": 3, "cross_split_sets": 0, "label_conflict_sets": 1,
               "near_pairs": 2, "near_cross_split": 1, "blank": 0, "rarest": {"class": "disgust", "count": 5,
                                                                            "share": 0.025}}
    text = narrative.audit(summary)
    assert text.startswith("The audit of 200 images found 4 exact duplicate copies (2.0%) in 3 sets, 1 with conflicting")
    assert "spanning" not in text and "The rarest class is disgust with 5 images (2.5% of the labeled ones)." in text


@pytest.mark.parametrize("origin, label", [
    ({"kind": "synthetic", "seed": 0, "rows": 35887}, "synthetic (seed 0, 35,887 faces)"),
    ({"kind": "file", "path": "/data/train.csv.gz", "sha256": "0123456789abcdef"}, "train.csv.gz sha256 0123456789ab"),
])
def test_origin_labels(origin, label):
    assert narrative.origin(origin) == label


def test_small_sentences():
    assert narrative.architecture("vgg_small", 12345, 2.5e6) == (
        "**vgg_small**: 12,345 parameters, 2.5 MFLOPs per image (multiply and add counted apart).")
    assert narrative.parameter_match(1010, 1000) == "The DNN has 1,010 parameters against the CNN's 1,000 (+1.00%)."
    assert narrative.analysed_accuracy("PrivateTest", 3589, 0.8) == "3,589 PrivateTest test faces, accuracy 80.0%."
    assert "no labeled test split" in narrative.split_title("val")
    assert narrative.layers(["conv1", "conv2"], "conv2", "conv2") == (
        "Convolution layers: conv1, conv2. Early layer: `conv2`; deep layer: `conv2`.")


def test_every_sentence_speaks_traditional_chinese_from_the_same_numbers():
    splits = {"PublicTest": _metrics(0.75), "PrivateTest": _metrics(1.0, recall={"angry": 0.9, "fear": 0.2})}
    text = narrative.test_accuracy(splits, "PrivateTest", lang="zh")
    assert text == ("測試準確率：PublicTest 75.0%（macro-F1 0.650，n = 100）；PrivateTest 100.0%（macro-F1 0.900，n = 100）。"
                    "兩者平均為 87.5%（原報告引用的就是這個平均）。在 PrivateTest 上最難辨識的是恐懼（fear），recall 只有 20.0%。")
    only_val = narrative.test_accuracy({"val": _metrics(0.5, recall={"sad": 0.1})}, "val", lang="zh")
    assert "沒有標註好的測試集" in only_val and "在驗證集上最難辨識的是難過（sad），recall 只有 10.0%" in only_val
    matrix = [[10, 0, 0, 0, 0, 0, 0], [0, 10, 0, 0, 0, 0, 0], [0, 0, 8, 0, 0, 2, 0], [0, 0, 0, 10, 0, 0, 0],
              [0, 0, 0, 0, 10, 0, 0], [0, 0, 3, 0, 0, 7, 0], [0, 0, 0, 0, 0, 0, 10]]
    assert narrative.confusions(evaluate.confusion_summary(matrix, top=1), lang="zh") == (
        "依互相認錯的比例排，最常被搞混的是恐懼（fear）和驚訝（surprise），兩類的臉有 25.0% 被認成對方"
        "（前者認成後者 2 張，後者認成前者 3 張）。"), "issue 22: no doubled brackets"
    never = evaluate.confusion_summary(matrix, top=3)
    assert "0.0%" not in narrative.confusions(never, "zh") + narrative.confusions(never), "a pair never confused"
    assert narrative.confusions(evaluate.confusion_summary(np.diag([5] * 7))) == "No two classes are confused."
    assert narrative.class_errors(evaluate.confusion_summary(matrix, top=1), lang="zh").startswith(
        "辨識得最差的 class 是驚訝（surprise），recall 只有 70.0%，它的臉有 30.0% 被認成恐懼（fear）。")
    assert narrative.parameter_match(1010, 1000, lang="zh") == "DNN 有 1,010 個參數，CNN 有 1,000 個（相差 +1.00%）。"
    assert narrative.analysed_accuracy("PrivateTest", 3589, 0.8, lang="zh") == "PrivateTest 測試集的臉共 3,589 張，準確率 80.0%。"
    assert "資料增強：左右翻轉、最多 14.4° 的旋轉" in narrative.training_recipe(config.resolve("cpu"), lang="zh")
    result = {"split": "val", "tta": "flip", "models": {
        "CNN": {"parameters": 1000, "accuracy": 0.3, "gap": 0.05, "seconds_per_epoch": 10.0},
        "DNN": {"parameters": 1010, "accuracy": 0.4, "gap": 0.2, "seconds_per_epoch": 2.0}}}
    assert "在驗證集上，CNN 的準確率是 30.0%，DNN 是 40.0%，CNN 反而低了 10.0 個百分點" in narrative.comparison(result, "zh")
    # no English sentence leaks into the Chinese one (apart from the course's own terms and names)
    for text in (narrative.region_share({"upper_share": 0.3, "mouth_share": 0.22, "upper_area": 0.2, "mouth_area": 0.1,
                                         "ratio": 1.7333, "mouth_heavy_classes": []}, lang="zh"),
                 narrative.training({"splits": {}, "epochs_run": 3, "best_epoch": 2, "stopped_by": "epochs",
                                     "train_seconds": 9, "device": "CPU", "seconds_per_epoch": 3,
                                     "train_images_per_second": 99}, lang="zh")):
        assert " the " not in text and "。" in text
    with pytest.raises(ValueError, match="lang='fr'"):
        narrative.split_name("val", lang="fr")


def test_both_glues_chinese_then_english():
    assert narrative.both(narrative.split_name, "val") == "驗證集\n\nvalidation"


def _headline(splits, synthetic=True):
    return {"model": "vgg_small", "parameters": 70551, "splits": splits, "split": "PrivateTest", "synthetic": synthetic,
            "blocks": {"convolutions": 5, "normalised": 5, "rescales": True}}


def test_answers_explain_in_both_languages_and_say_what_synthetic_faces_mean():
    splits = {"PublicTest": _metrics(0.75), "PrivateTest": _metrics(0.8)}
    zh, en = narrative.cnn_answer(_headline(splits), "zh"), narrative.cnn_answer(_headline(splits), "en")
    assert "70,551 個參數" in zh and "兩者平均為 77.5%" in zh and "合成資料" in zh
    assert "70,551 parameters" in en and "is 77.5%" in en and "generated" in en
    assert "generated" not in narrative.cnn_answer(_headline(splits, synthetic=False), "en")
    assert "70,551 parameters: 5 convolutions, each followed by batch normalisation and ReLU" in en
    edited = {**_headline(splits), "blocks": {"convolutions": 4, "normalised": 2, "rescales": True}}
    assert "4 convolutions, 2 of them followed by" in narrative.cnn_answer(edited), "issue 22: the model as built"
    assert "我實作的 CNN" in zh and "我們" not in zh
    result = _comparison(cnn_only=300, dnn_only=20, p_value=1e-40)
    assert "the CNN is the more accurate" in narrative.dnn_answer(result, False, "en")
    assert "CNN 確實比較準" in narrative.dnn_answer(result, False, "zh")
    assert "clearly" not in narrative.dnn_answer(result, False, "en")


def _comparison(cnn_only, dnn_only, p_value, cnn_accuracy=0.8, dnn_accuracy=0.4, improving=False):
    layer = {"name": "dense1", "parameters": 900, "share": 0.9}
    return {"split": "PrivateTest", "tta": "none",
            "paired": {"n": 1000, "first_only": cnn_only, "second_only": dnn_only, "p_value": p_value},
            "models": {
                "CNN": {"parameters": 1000, "accuracy": cnn_accuracy, "gap": 0.05, "seconds_per_epoch": 10.0,
                        "epochs": 10, "best_epoch": 10 if improving else 7, "stopped_by": "time_budget",
                        "largest_layer": {"name": "conv3_2", "parameters": 300, "share": 0.3}},
                "DNN": {"parameters": 1010, "accuracy": dnn_accuracy, "gap": 0.2, "seconds_per_epoch": 2.0,
                        "epochs": 10, "best_epoch": 4, "stopped_by": "early_stopping", "largest_layer": layer}}}


def test_q2_calls_a_difference_only_with_a_paired_test_below_005():
    """Issue 22: "better" only beyond a stated margin; here McNemar's exact test on the same faces."""
    tie = narrative.dnn_answer(_comparison(cnn_only=31, dnn_only=25, p_value=0.5, dnn_accuracy=0.79), False, "en")
    assert "the CNN alone is right on 31 and the DNN alone on 25 (McNemar exact test, p = 0.5, not below 0.05)" in tie
    assert "not significant" in tie and "more accurate" not in tie
    better = narrative.dnn_answer(_comparison(cnn_only=300, dnn_only=20, p_value=1e-40), False, "en")
    assert "p < 0.001, below 0.05): the CNN is the more accurate." in better
    assert "90% of the DNN's parameters sit in `dense1`" in better and "`conv3_2`, holds 30%" in better
    zh = narrative.dnn_answer(_comparison(cnn_only=300, dnn_only=20, p_value=1e-40), False, "zh")
    assert "只有 CNN 答對的有 300 張，只有 DNN 答對的有 20 張" in zh and "90% 在 `dense1`" in zh


def test_a_network_whose_best_epoch_was_its_last_was_still_improving():
    text = narrative.dnn_answer(_comparison(300, 20, 1e-40, improving=True), False, "en")
    assert "The CNN's best epoch was its last: still improving when stopped" in text
    metrics = {"epochs_run": 10, "best_epoch": 10, "stopped_by": "time_budget", "splits": {"val": {"accuracy": 0.5}},
               "device": "CPU", "train_seconds": 90.0, "seconds_per_epoch": 9.0, "train_images_per_second": 800.0}
    assert "still improving when it stopped" in narrative.training(metrics)
    assert "還在進步" in narrative.training(metrics, "zh")
    assert "still improving" not in narrative.training({**metrics, "best_epoch": 6})
    assert "still improving" not in narrative.training({**metrics, "stopped_by": "early_stopping"})


def test_glance_rows_quote_this_run_beside_the_2017_report():
    splits = {"PublicTest": _metrics(0.75), "PrivateTest": _metrics(0.8)}
    rows = narrative.glance_rows({"cnn": _headline(splits), "dnn": _headline({"val": _metrics(0.4)}),
                                  "confusions": {"pairs": [{"first": "fear", "second": "surprise", "rate": 0.107}]},
                                  "regions": {"upper_share": 0.3, "upper_area": 0.2, "mouth_share": 0.2,
                                              "mouth_area": 0.1}})
    table = {label: (ours, original) for label, ours, original in rows}
    assert table["CNN 平均 average (Public + Private) / 2"] == ("77.5%", "60.9%")
    assert table["CNN 參數量 parameters"] == ("70,551", "21,100,035")
    assert table["DNN 準確率 accuracy · 驗證集 validation (no labeled test split)"] == ("40.0%", "—"), \
        "issue 22: the 2017 test average is not a validation figure"
    assert table["DNN 測試平均 test average (Public + Private) / 2"] == ("—", "35.4%")
    assert table["最常混淆（依比例）most-confused pair (by rate)"][0] == "fear / surprise (10.7% of their faces)"
    assert table["Saliency 落在 share on"][0].startswith("brows + eyes 30% (area 20%)")


def test_stamp_rows_name_code_versions_machine_and_data():
    environment = {"date": "2026-01-02 03:04 UTC", "git": "not a git checkout", "python": "3.11.7",
                   "tensorflow": "2.21.0", "keras": "3.15.1", "cpu": "Xeon", "cores": 2, "gpu": ""}
    rows = dict(narrative.stamp_rows(environment, {"kind": "file", "path": "/x/train.csv", "sha256": "ab" * 32},
                                     "quick", 0, 125.0))
    assert rows["程式 Code"] == "not a git checkout" and rows["機器 Machine"] == "Xeon, 2 cores; GPU: none"
    assert rows["資料 Data"] == "train.csv, SHA-256 " + "ab" * 32
    assert rows["執行時間 Wall time"] == "2.1 min (125 s) for the notebooks"
    timed = dict(narrative.stamp_rows(environment, {}, "quick", 0, 125.0,
                                      [("vgg_small", 95.0, True), ("dnn", 20.0, False)], "mixed_bfloat16"))
    assert timed["設定 Settings"] == "profile quick, seed 0, trained in mixed_bfloat16"
    assert timed["執行時間 Wall time"] == ("2.1 min (125 s) for the notebooks, training included (dnn 20 s); "
                                         "training reused from earlier runs, not included (vgg_small 95 s)")
    assert "Keras 3.15.1" in rows["版本 Versions"]
    synthetic = dict(narrative.stamp_rows(environment, {"kind": "synthetic", "generator": "fer_utils.synth", "seed": 0,
                                                        "rows": 70}, "cpu", 3, None))
    assert synthetic["資料 Data"] == "synthetic, generator fer_utils.synth seed 0, 70 faces"


def test_the_split_says_whether_stratification_held_and_what_the_test_data_are():
    shares = {"training": 28709, "val": 2700, "overall": 0.094, "tests": ["PublicTest", "PrivateTest"],
              "per_class": {"angry": 0.095, "disgust": 0.071, "happy": 0.098}}
    text = narrative.data_split(shares)
    assert text.startswith("Validation holds 2,700 of the 28,709 Training faces (9.4%), a seeded share stratified")
    assert "moved back to train, so the classes differ, from 7.1% of *disgust* to 9.8% of *happy*" in text
    assert text.endswith("PublicTest and PrivateTest are kept whole as the test data.")
    alone = narrative.data_split({**shares, "tests": [], "per_class": {"angry": 0.094, "happy": 0.095}})
    assert "every class between 9.4% and 9.5%" in alone and "kept whole" not in alone, "issue 22: train.csv has none"
    assert "no labeled test split" in alone and "以驗證集代替" in narrative.data_split({**shares, "tests": []}, "zh")


def _pictures():
    early = {"layer": "conv1_2", "filters": 32, "stronger": 32, "median_z": 2.84, "shown": list(range(16))}
    deep = {"layer": "conv3_2", "filters": 64, "stronger": 60, "median_z": 13.4, "shown": list(range(16))}
    classes = {"own": {"angry": 0.15, "disgust": 0.1, "sad": -0.03}, "matches": ["angry", "disgust"]}
    return {"early": early, "deep": deep, "classes": classes}


def test_q5_describes_the_filter_images_from_measurements_of_them():
    pictures = _pictures()
    text = narrative.filter_pictures(pictures["early"], pictures["deep"])
    assert "early layer `conv1_2` and the deep layer `conv3_2`" in text, "issue 22: which layer each figure shows"
    assert "All 32 early filters and 60 of the 64 deep ones respond to their ascent image at least 2 standard" in text
    assert "textures" not in text and "patterns" not in text, "a final TA read: no words the figure contradicts"
    classes = narrative.class_pictures(pictures["classes"])
    assert "Of the 3 class images of part 2, 2 (" in classes and ") correlate more with their own class's difference" in classes
    assert "than with any other class's, where chance alone would give about 1 of 3;" in classes
    assert "ranges from -0.03 to 0.15. All are below 0.3, weak: the class images do not recognisably" in classes
    one = narrative.class_pictures({"own": {"happy": 0.05, "sad": -0.06}, "matches": ["happy"]})
    assert "Of the 2 class images of part 2, 1 (*happy*) correlates more with its own class's difference" in one, \
        "the real-data workbook's case: the verb agrees with one image"
    assert "none correlates more" in narrative.class_pictures({"own": {"happy": 0.05}, "matches": []})
    assert "：開心（happy）；純靠運氣大約是 2 張中 1 張。" in narrative.class_pictures(
        {"own": {"happy": 0.05, "sad": -0.06}, "matches": ["happy"]}, "zh"), "no bracket right after a bracket"
    strong = narrative.class_pictures({"own": {"happy": 0.5}, "matches": ["happy"]})
    assert "weak" not in strong


NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text):
    return sorted(float(match.replace(",", "")) for match in NUMBER.findall(text))


def _explanations():
    """Every narrative function with a ``lang`` argument, on hand-made results: {name: (function, args, kwargs)}."""
    matrix = [[10, 0, 0, 0, 0, 0, 0], [0, 10, 0, 0, 0, 0, 0], [0, 0, 8, 0, 0, 2, 0], [0, 0, 0, 10, 0, 0, 0],
              [0, 0, 0, 0, 10, 0, 0], [0, 0, 3, 0, 0, 7, 0], [0, 0, 0, 0, 0, 0, 10]]
    confusion = evaluate.confusion_summary(matrix)
    table = pd.DataFrame({"spearman_after_randomisation": [0.12, 0.501, 0.3], "passes_randomisation": [True, False, True],
                          "faithful": [True, False, True], "deletion_auc": [0.1731, 0.1, 0.1729],
                          "random_order_auc": [0.4, 0.4, 0.4], "completeness_gap": [float("nan"), 0.031, float("nan")]},
                         index=["vanilla", "integrated_gradients", "grad_cam"])
    regions = {"upper_share": 0.3, "mouth_share": 0.22, "upper_area": 0.2, "mouth_area": 0.1, "ratio": 1.7333,
               "mouth_heavy_classes": ["happy"]}
    metrics = {"splits": {"val": {"accuracy": 0.5}}, "epochs_run": 10, "best_epoch": 10, "stopped_by": "time_budget",
               "train_seconds": 90.0, "device": "CPU", "seconds_per_epoch": 9.0, "train_images_per_second": 800.0,
               "weight_average": {"epochs": [7, 8, 9, 10], "used": True, "val_accuracy": 0.61,
                                  "best_epoch_val_accuracy": 0.58}}
    filters = {"layer": "conv3_2", "filters": 64, "k": 9, "dominant_counts": {"happy": 40, "surprise": 24},
               "selective": 12, "most_selective": {"filter": 5, "class": "happy", "share": 1.0},
               "never_dominant": ["disgust"], "top_share": 1.0,
               "at_top_share": [{"filter": index, "class": "happy"} for index in range(7)]}
    audit = {"rows": 200, "exact_copies": 4, "exact_sets": 3, "cross_split_sets": 2, "label_conflict_sets": 1,
             "near_pairs": 2, "near_cross_split": 1, "blank": 3, "rarest": {"class": "disgust", "count": 5,
                                                                          "share": 0.025}}
    gallery = {"shown": 24, "true": [("fear", 11)], "predicted": [("surprise", 9)],
               "measures": {"brightness": {"mistakes": 98.0, "correct": 121.0, "d": -0.62},
                            "contrast": {"mistakes": 44.0, "correct": 45.0, "d": -0.05},
                            "confidence": {"mistakes": 0.55, "correct": 0.81, "d": -1.52}}}
    shares = {"training": 28709, "val": 2700, "overall": 0.094, "tests": ["PublicTest", "PrivateTest"],
              "per_class": {"angry": 0.095, "disgust": 0.071, "happy": 0.098}}
    splits = {"PublicTest": _metrics(0.75), "PrivateTest": _metrics(0.8, recall={"angry": 0.9, "fear": 0.2})}
    pictures = _pictures()
    return {
        "class_name": (narrative.class_name, ("fear",), {}),
        "your_faces": (narrative.your_faces, ([{"photo": "me2.jpg", "face": 2, "label": "happy", "probability": 0.83,
                                                 "runner_up": "surprise", "runner_up_probability": 0.09,
                                                 "parts": [{"part": "mouth", "share": 0.31, "density": 2.4},
                                                           {"part": "brows", "share": 0.12, "density": 1.9}],
                                                 "outside": 0.41}] * 3, ["wall.png"], True),
                       {"shown": 2, "default_photo": True}),
        "origin": (narrative.origin, ({"kind": "synthetic", "seed": 3, "rows": 35887},), {}),
        "split_title": (narrative.split_title, ("PrivateTest",), {}),
        "split_name": (narrative.split_name, ("val",), {}),
        "profiles": (narrative.profiles, ([config.resolve(name) for name in config.PROFILE_NAMES],), {}),
        "data_split": (narrative.data_split, (shares,), {}),
        "training_recipe": (narrative.training_recipe, (config.resolve("cpu"),), {"rows": (8000, 25838)}),
        "training_recipe_quick": (narrative.training_recipe, (config.resolve("quick"),), {"rows": (8000, 25838)}),
        "architecture": (narrative.architecture, ("vgg_small", 70551, 2.5e6), {}),
        "recipe_changes": (narrative.recipe_changes, (config.resolve("cpu"), dataclasses.replace(
            config.resolve("cpu"), model="dnn", match="vgg_fast", time_budget=5.0, epochs=30)), {}),
        "training": (narrative.training, (metrics,), {}),
        "weight_average": (narrative.weight_average, (metrics["weight_average"],), {}),
        "test_accuracy": (narrative.test_accuracy, (splits, "PrivateTest"), {}),
        "test_accuracy_val": (narrative.test_accuracy, ({"val": _metrics(0.5)}, "val"), {}),
        "parameter_match": (narrative.parameter_match, (1010, 1000), {}),
        "comparison": (narrative.comparison, (_comparison(300, 20, 1e-40),), {}),
        "analysed_accuracy": (narrative.analysed_accuracy, ("val", 2871, 0.8), {}),
        "confusions": (narrative.confusions, (confusion,), {}),
        "class_errors": (narrative.class_errors, (confusion,), {}),
        "gallery": (narrative.gallery, (gallery,), {}),
        "region_share": (narrative.region_share, (regions,), {}),
        "regions_origin": (narrative.regions_origin, (False,), {}),
        "checks": (narrative.checks, (table,), {}),
        "layers": (narrative.layers, (["conv1_1", "conv3_2"], "conv1_1", "conv3_2"), {}),
        "filter_pictures": (narrative.filter_pictures, (pictures["early"], pictures["deep"]), {}),
        "class_pictures": (narrative.class_pictures, (pictures["classes"],), {}),
        "filter_classes": (narrative.filter_classes, (filters,), {}),
        "audit": (narrative.audit, (audit,), {}),
        "cnn_answer": (narrative.cnn_answer, (_headline(splits),), {}),
        "paired_test": (lambda *args, lang: narrative.paired_test(*args, lang=lang)[1],
                        ({"n": 1000, "first_only": 31, "second_only": 25, "p_value": 0.5},), {}),
        "dnn_answer": (narrative.dnn_answer, (_comparison(300, 20, 1e-40, improving=True), True), {}),
        "dnn_answer_tie": (narrative.dnn_answer, (_comparison(31, 25, 0.5, dnn_accuracy=0.79), False), {}),
        "confusion_answer": (narrative.confusion_answer, (confusion, True), {"profile": gallery}),
        "saliency_answer": (narrative.saliency_answer, (regions, table, True), {}),
        "filter_answer": (narrative.filter_answer, (filters, True), {"pictures": pictures}),
    }


@pytest.mark.parametrize("name", sorted(_explanations()))
def test_both_languages_carry_the_same_numbers(name):
    """Issue 22: one record of facts, two renderings: every number of the English text is in the Chinese, and back."""
    function, args, kwargs = _explanations()[name]
    zh, en = function(*args, lang="zh", **kwargs), function(*args, lang="en", **kwargs)
    assert _numbers(zh) == _numbers(en), f"{name}:\n{zh}\n{en}"


def test_every_function_that_speaks_is_checked_in_both_languages():
    import inspect

    speaking = {name for name, function in inspect.getmembers(narrative, inspect.isfunction)
                if function.__module__ == narrative.__name__ and not name.startswith("_")
                and "lang" in inspect.signature(function).parameters}
    covered = {function.__name__ for function, _, _ in _explanations().values()} | {"paired_test"}
    assert speaking <= covered, f"add these to _explanations: {sorted(speaking - covered)}"


def test_the_regions_sentence_follows_the_data():
    assert "generator" in narrative.regions_origin(True) and "generator" not in narrative.regions_origin(False)
    assert "FER2013" in narrative.regions_origin(False, "zh") and "產生器" in narrative.regions_origin(True, "zh")


def test_q2_says_only_how_the_dnns_recipe_differs_from_the_cnns():
    cnn = config.resolve("cpu", time_budget=60.0)
    dnn = dataclasses.replace(cnn, model="dnn", match="vgg_fast", time_budget=5.0)
    assert narrative.recipe_changes(cnn, dnn) == "The recipe is the CNN's of Q1, with a time budget of 5 min instead of 60 min."
    assert narrative.recipe_changes(cnn, dnn, "zh") == "訓練方法和 Q1 的 CNN 相同，只有時間預算從 60 分鐘改成 5 分鐘。"
    assert narrative.recipe_changes(cnn, dataclasses.replace(cnn, model="dnn")) == "The recipe is the CNN's of Q1, unchanged."
