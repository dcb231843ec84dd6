"""The report's prose: pure functions from structured results to sentences, one place per sentence.

Every sentence with a number in the report comes from a function here; the numbers come from the results
passed in (``evaluate``, ``audit``, ``saliency``, ``features`` and ``workbook`` compute them), never typed.
Every function speaks Traditional Chinese (``lang="zh"``, as Taiwanese students write a course report:
the course's English terms such as epoch, recall or filter kept, the sentence built the Chinese way) and English
(``lang="en"``, the default); both versions of a sentence sit side by side in one function, from the same numbers.
``both`` glues the two into one bilingual paragraph. Class names are printed in *italics* in English and as
"恐懼（fear）" in Chinese, figures rounded as the report shows them.
"""

from fer_utils import evaluate, precision

LANGUAGES = ("zh", "en")
#: Class names as a Taiwanese report writes them (the English name follows in brackets).
CLASS_ZH = {"angry": "生氣", "disgust": "厭惡", "fear": "恐懼", "happy": "開心", "sad": "難過", "surprise": "驚訝",
            "neutral": "中性"}
TTA_WORDS = {"none": "no test-time augmentation", "flip": "predictions averaged with the mirrored face",
             "ten_crop": "predictions averaged over ten crops (five shifted windows and their mirrors)"}
TTA_WORDS_ZH = {"none": "不做 test-time augmentation", "flip": "原圖和左右翻轉後的預測取平均",
                "ten_crop": "十個裁切（五個位移視窗和它們的鏡像）的預測取平均"}
STOP_WORDS = {"epochs": "it reached the profile's epoch cap", "early_stopping": "validation accuracy stopped improving",
              "time_budget": "its time budget ran out"}
STOP_WORDS_ZH = {"epochs": "到了 profile 設定的 epoch 上限", "early_stopping": "validation 準確率不再進步（early stopping）",
                 "time_budget": "時間預算用完了"}
#: The original report's figures (ML2017 HW3, 2017): test accuracies on FER2013 and parameter counts.
ORIGINAL_2017 = {"CNN": {"PublicTest": 0.60100, "PrivateTest": 0.61604, "average": (0.60100 + 0.61604) / 2,
                         "parameters": 21_100_035},
                 "DNN": {"average": 0.353995, "parameters": 21_187_076}}


def _language(lang):
    """``lang`` checked: "zh" or "en".

    Raises:
        ValueError: any other value (names the argument and the choices).
    """
    if lang not in LANGUAGES:
        raise ValueError(f"lang={lang!r}: use 'zh' (Traditional Chinese) or 'en' (English)")
    return lang


def _pad(text):
    """A name set inside a Chinese sentence: spaced when it is Latin ("在 PrivateTest 上"), not when Chinese ("在驗證集上")."""
    return f" {text} " if text[:1].isascii() else text


def class_name(name, lang="en"):
    """A class name in a sentence: "*fear*" in English, "恐懼（fear）" in Chinese."""
    return f"{CLASS_ZH[name]}（{name}）" if _language(lang) == "zh" else f"*{name}*"


def both(function, *args, **kwargs):
    """The Traditional Chinese and the English text of one narrative function, as two Markdown paragraphs.

    Args:
        function: a function of this module with a ``lang`` argument.
        *args, **kwargs: its other arguments.
    Returns:
        "<Chinese>\n\n<English>".
    """
    return f"{function(*args, lang='zh', **kwargs)}\n\n{function(*args, lang='en', **kwargs)}"


def _series(items, lang="en"):
    """"a", "a and b", "a, b and c" (Chinese: "a、b和c")."""
    items = list(items)
    if len(items) <= 1:
        return items[0] if items else ""
    if lang == "zh":
        head = "、".join(items[:-1])
        # a space only beside a Latin word: "Grad-CAM 和 SmoothGrad", "開心和難過", "（0.254）和 Grad-CAM"
        return head + (" " if head[-1:].isascii() else "") + "和" + (" " if items[-1][:1].isascii() else "") + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]


def origin(data_origin, lang="en"):
    """A short label of a data origin: "synthetic (seed 0, 35,887 faces)" or "train.csv.gz sha256 1a2b3c4d5e6f"."""
    zh = _language(lang) == "zh"
    if data_origin.get("kind") == "synthetic":
        seed, rows = data_origin.get("seed"), data_origin.get("rows", 0)
        return f"合成資料（seed {seed}，{rows:,} 張臉）" if zh else f"synthetic (seed {seed}, {rows:,} faces)"
    name = data_origin.get("path", "?").replace("\\", "/").rsplit("/", 1)[-1]
    digest = data_origin.get("sha256", "?")[:12]
    return f"{name}（sha256 {digest}）" if zh else f"{name} sha256 {digest}"


def split_title(name, lang="en"):
    """How the report names a split's faces: "PrivateTest test faces", "held-out validation faces", ..."""
    if _language(lang) == "zh":
        if name == "val":
            return "驗證集的臉（資料沒有標註好的測試集，以驗證集代替；checkpoint 也是依驗證集挑的）"
        return "訓練集的臉" if name == "train" else f"{name} 測試集的臉"
    if name == "val":
        return "held-out validation faces (no labeled test split in the data; checkpoints were chosen on them)"
    if name == "train":
        return "training faces"
    return f"{name} test faces"


def split_name(name, lang="en"):
    """A split's short name in a sentence: "PrivateTest", "validation" (驗證集), "training" (訓練集)."""
    if _language(lang) == "zh":
        return {"val": "驗證集", "train": "訓練集"}.get(name, name)
    return {"val": "validation", "train": "training"}.get(name, name)


def profiles(configs, lang="en"):
    """A Markdown table of profiles: model, training rows, epochs and time budget.

    Args:
        configs: resolved ``Config`` objects, one per profile, in the order to list.
        lang: "zh" or "en".
    """
    zh = _language(lang) == "zh"
    header = ("| profile | 模型 | 訓練張數 | epoch 上限 | 時間預算 |" if zh
              else "| profile | model | training rows | epochs (at most) | time budget |")
    lines = [header, "| --- | --- | --- | --- | --- |"]
    for config in configs:
        rows = f"{config.max_train_rows:,}" if config.max_train_rows else ("全部" if zh else "all")
        budget = (f"{config.time_budget:g} {'分鐘' if zh else 'min'}" if config.time_budget
                  else ("無" if zh else "none"))
        lines.append(f"| `{config.profile}` | `{config.model}` | {rows} | {config.epochs} | {budget} |")
    return "\n".join(lines)


#: Validation's per-class shares are called even when they differ by less than this (share points).
EVEN_SHARES = 0.01


def data_split(shares, lang="en"):
    """Sentences on how the faces were split, from ``workbook.validation_shares``: validation's size, whether
    stratification held per class (pixel-identical copies of training faces are moved back to train, which
    thins classes with many copies), and what the test splits are, or that there are none.
    """
    zh = _language(lang) == "zh"
    per_class = shares["per_class"]
    low, high = min(per_class, key=per_class.get), max(per_class, key=per_class.get)
    even = per_class[high] - per_class[low] < EVEN_SHARES
    tests = shares["tests"]
    if zh:
        text = (f"驗證集是從 {shares['training']:,} 張 Training 臉中依 seed 分層抽出的 {shares['val']:,} 張"
                f"（{shares['overall']:.1%}）")
        if even:
            text += f"，每個 class 都在 {per_class[low]:.1%} 到 {per_class[high]:.1%} 之間。"
        else:
            text += (f"；和訓練集某張臉像素完全相同的臉會移回訓練集，所以各 class 的比例不一樣：從"
                     f"{class_name(low, lang)}的 {per_class[low]:.1%} 到{class_name(high, lang)}的 {per_class[high]:.1%}。")
        if tests:
            return text + f"{_series(tests, lang)} 整份保留，當作測試集。"
        return text + "資料沒有標註好的測試集，所以每一題都以驗證集代替。"
    text = (f"Validation holds {shares['val']:,} of the {shares['training']:,} Training faces ({shares['overall']:.1%}), "
            "a seeded share stratified by class")
    if even:
        text += f": every class between {per_class[low]:.1%} and {per_class[high]:.1%}."
    else:
        text += (f"; faces with a pixel-identical copy in train are moved back to train, so the classes differ, from "
                 f"{per_class[low]:.1%} of {class_name(low)} to {per_class[high]:.1%} of {class_name(high)}.")
    if tests:
        return text + f" {_series(tests)} {'are' if len(tests) > 1 else 'is'} kept whole as the test data."
    return text + " The data has no labeled test split, so validation stands in for it in every question."


def training_recipe(config, lang="en", rows=None, policy=None):
    """A sentence with the training settings of a resolved ``Config``, naming only what is on.

    A setting that is off (no warm-up, no label smoothing, no weight decay, no augmentation of a kind) is not
    mentioned, and early stopping only when its patience is shorter than the epoch cap (else it cannot stop
    the run).

    Args:
        config: the run's resolved ``Config``.
        lang: "zh" or "en".
        rows: (faces trained on, training faces available), to say when a profile trains on a subsample.
        policy: the Keras policy the run trained under, as its metrics record it ("float32", "mixed_bfloat16",
            "mixed_float16"). When None, it is what ``config.precision`` resolves to on this CPU (the machine
            that would train it), which can differ from a run trained elsewhere or on a GPU.
    """
    zh = _language(lang) == "zh"
    used, available = rows if rows else (None, None)
    if config.max_train_rows and used is not None and available is not None and used < available:
        faces = (f"{used:,} 張訓練臉孔（從 {available:,} 張中分層抽樣）" if zh
                 else f"{used:,} of the {available:,} training faces (a stratified subsample)")
    elif used is not None:
        faces = f"全部 {used:,} 張訓練臉孔" if zh else f"all {used:,} training faces"
    else:
        faces = "全部訓練臉孔" if zh else "all training faces"
    stopping = []
    if config.patience < config.epochs:
        stopping.append(f"連續 {config.patience} 個 epoch validation 準確率沒進步就提早停止" if zh
                        else f"early stopping after {config.patience} epochs without a better validation accuracy")
    if config.time_budget:
        stopping.append(f"時間預算 {config.time_budget:g} 分鐘：cosine schedule 也跟著時鐘走，預算用完時 learning rate "
                        "正好降到 0，不論跑到第幾個 epoch" if zh
                        else f"a {config.time_budget:g}-minute budget: the cosine schedule follows the clock too, so the "
                             "learning rate reaches 0 when the budget ends, at whatever epoch")
    optimiser = (f"AdamW，最高 learning rate {config.learning_rate:g}" if zh
                 else f"AdamW at peak learning rate {config.learning_rate:g}")
    if config.weight_decay:
        optimiser += f"、weight decay {config.weight_decay:g}" if zh else f", weight decay {config.weight_decay:g}"
    if config.warmup_epochs:
        schedule = (f"先 warm-up {config.warmup_epochs:g} 個 epoch 再 cosine decay" if zh
                    else f"a {config.warmup_epochs:g}-epoch linear warm-up, then cosine decay")
    else:
        schedule = "learning rate 以 cosine decay 下降" if zh else "cosine decay of the learning rate"
    if config.average_tail:
        schedule += (f"，decay 最後 {config.average_tail:.0%} 的 epoch 權重取平均（SWA）" if zh
                     else f", the weights of the epochs in its last {config.average_tail:.0%} averaged (SWA)")
    extras = []
    if config.label_smoothing:
        extras.append(f"label smoothing {config.label_smoothing:g}")
    if config.augment:
        kinds = ["左右翻轉" if zh else "flips"]
        for name_zh, name_en, value, text in (("旋轉", "rotations", config.rotation, f"{config.rotation * 360:g}°"),
                                              ("平移", "shifts", config.shift, f"{config.shift:.0%}"),
                                              ("縮放", "zooms", config.zoom, f"{config.zoom:.0%}")):
            if value:
                kinds.append(f"最多 {text} 的{name_zh}" if zh else f"{name_en} up to {text}")
        if config.erasing:
            kinds.append(f"對 {config.erasing:.0%} 的臉做 random erasing" if zh
                         else f"random erasing of {config.erasing:.0%} of the faces")
        if config.cutmix:
            kinds.append(f"對 {config.cutmix:.0%} 的臉做 CutMix（貼上同一 batch 另一張臉的一塊，標籤按面積混合）" if zh
                         else f"CutMix on {config.cutmix:.0%} of the faces (a patch of another face of the batch, "
                              "the labels mixed by its area)")
        extras.append(("資料增強：" + _series(kinds, "zh")) if zh else "augmentation: " + _series(kinds))
    else:
        extras.append("不做資料增強" if zh else "no augmentation")
    extras.append(f"測試時{TTA_WORDS_ZH[config.tta]}" if zh else TTA_WORDS[config.tta])
    if policy is None:
        policy = precision.policy(precision.resolve(config.precision))
    if policy in ("mixed_bfloat16", "mixed_float16"):
        kind = policy.removeprefix("mixed_")
        extras.append(f"以 {kind} 混合精度訓練（權重、logits 與 loss 用 float32）" if zh
                      else f"trained in {kind} mixed precision (float32 weights, logits and loss)")
    elif policy != "float32":
        raise ValueError(f"policy={policy!r}: expected float32, mixed_bfloat16 or mixed_float16")
    if config.ensemble > 1:
        extras.append(f"{config.ensemble} 個 seed 的 ensemble" if zh else f"an ensemble of {config.ensemble} seeds")
    if zh:
        limits = f"（{'；'.join(stopping)}）" if stopping else ""
        return (f"訓練設定（profile `{config.profile}`）：{faces}，batch size {config.batch_size}，最多 {config.epochs} 個 epoch"
                f"{limits}；{optimiser}，{schedule}；{'；'.join(extras)}。")
    limits = f" ({'; '.join(stopping)})" if stopping else ""
    return (f"Profile `{config.profile}`: {faces}, batch {config.batch_size}, at most {config.epochs} epochs{limits}; "
            f"{optimiser}, {schedule}; {'; '.join(extras)}.")


#: Settings ``recipe_changes`` names in words (zh, en, unit); any other changed setting is named by its field.
RECIPE_WORDS = {"time_budget": ("時間預算", "time budget", " min"), "epochs": ("epoch 上限", "epoch cap", ""),
                "learning_rate": ("最高 learning rate", "peak learning rate", ""),
                "batch_size": ("batch size", "batch size", ""), "weight_decay": ("weight decay", "weight decay", "")}
#: Settings that name the network, not the recipe.
NOT_RECIPE = ("model", "match")


def recipe_changes(base, other, lang="en"):
    """A sentence on how ``other``'s recipe differs from ``base``'s (e.g. Q2's DNN against Q1's CNN).

    Args:
        base, other: resolved ``Config`` objects.
        lang: "zh" or "en".
    """
    import dataclasses

    zh = _language(lang) == "zh"
    changed = [field.name for field in dataclasses.fields(base)
               if field.name not in NOT_RECIPE and getattr(base, field.name) != getattr(other, field.name)]
    if not changed:
        return "訓練方法和 Q1 的 CNN 完全相同。" if zh else "The recipe is the CNN's of Q1, unchanged."
    parts = []
    for name in changed:
        label_zh, label_en, unit = RECIPE_WORDS.get(name, (name, name, ""))
        old, new = getattr(base, name), getattr(other, name)
        old, new = (f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}" for value in (old, new))
        if zh:
            old, new = (value.replace(" min", " 分鐘") for value in (old, new))
            parts.append(f"{label_zh}從 {old}{'' if old.endswith('鐘') else ' '}改成 {new}")
        else:
            parts.append(f"a {label_en} of {new} instead of {old}")
    if zh:
        return f"訓練方法和 Q1 的 CNN 相同，只有{'；'.join(parts)}。"
    return f"The recipe is the CNN's of Q1, with {_series(parts)}."


def architecture(name, parameters, flops, lang="en"):
    """A sentence with a model's name, parameter count and multiply-add cost per image."""
    if _language(lang) == "zh":
        return f"**{name}**：{parameters:,} 個參數，每張圖 {flops / 1e6:,.1f} MFLOPs（乘法和加法分開算）。"
    return (f"**{name}**: {parameters:,} parameters, {flops / 1e6:,.1f} MFLOPs per image "
            "(multiply and add counted apart).")


def training(metrics, lang="en", history=None):
    """A sentence on how a run's training went, from its ``metrics.json`` (``fer_utils.train.train``).

    Args:
        history: the run's per-epoch history (``Run.history``). With test-time augmentation the best epoch's
            validation score differs from the single view its curve shows and it was picked on; given the
            history, the sentence states both, so the figure does not seem to contradict it.
    """
    best = metrics["splits"].get("val", {}).get("accuracy")
    zh = _language(lang) == "zh"
    average = metrics.get("weight_average")
    if average:
        best = average["best_epoch_val_accuracy"]  # the best epoch's own score; the average's follows
    improving = still_improving(metrics)
    curve = None
    if history is not None and best is not None and metrics.get("tta", "none") != "none":
        curve = float(history["val_accuracy"].iloc[metrics["best_epoch"] - 1])
    if zh:
        best_text = f"，validation 準確率 {best:.1%}" if best is not None and curve is None else ""
        trend = "；這也是最後一個 epoch，停下來的時候還在進步，多訓練一些可能會更好" if improving else ""
        picked = (f"它是依曲線上單一視角的 validation 準確率（{curve:.1%}）挑出的；加上 test-time augmentation 是 "
                  f"{best:.1%}。" if curve is not None else "")
        return (f"訓練跑了 {metrics['epochs_run']} 個 epoch，因為{STOP_WORDS_ZH[metrics['stopped_by']]}而停止；"
                f"最好的是第 {metrics['best_epoch']} 個 epoch{best_text}{trend}。{picked}{weight_average(average, 'zh')}"
                f"在 {metrics['device']} 上花了 {metrics['train_seconds']:.0f} 秒（每個 epoch "
                f"{metrics['seconds_per_epoch']:.1f} 秒，每秒 {metrics['train_images_per_second']:.0f} 張圖）。")
    best_text = f" with validation accuracy {best:.1%}" if best is not None and curve is None else ""
    trend = (": the last one, so it was still improving when it stopped and more training may help"
             if improving else "")
    picked = (f"It was picked on the curve's single-view validation accuracy ({curve:.1%}); with test-time "
              f"augmentation it scores {best:.1%}. " if curve is not None else "")
    return (f"Training ran {metrics['epochs_run']} epochs and stopped because {STOP_WORDS[metrics['stopped_by']]}; "
            f"the best epoch was {metrics['best_epoch']}{best_text}{trend}. {picked}{weight_average(average, 'en')}"
            f"It took {metrics['train_seconds']:.0f} s on the {metrics['device']} "
            f"({metrics['seconds_per_epoch']:.1f} s per epoch, {metrics['train_images_per_second']:.0f} images/s).")


def still_improving(metrics):
    """Whether a run was still improving when it stopped: its best validation epoch was its last one and it was
    stopped by its budget or its epoch cap (not by early stopping)."""
    return metrics["best_epoch"] == metrics["epochs_run"] and metrics["stopped_by"] != "early_stopping"


def weight_average(average, lang="en"):
    """A sentence on a run's weight average (``metrics["weight_average"]``); "" when it kept none."""
    if not average:
        return ""
    epochs = average["epochs"]
    span = f"{epochs[0]}–{epochs[-1]}" if len(epochs) > 1 else f"{epochs[0]}"
    if _language(lang) == "zh":
        kept = "取代了最好的 epoch" if average["used"] else "不如最好的 epoch，沒有採用"
        return (f"第 {span} 個 epoch 的權重平均（SWA，重算 batch norm 統計）validation 準確率 "
                f"{average['val_accuracy']:.1%}，{kept}。")
    kept = "replaced the best epoch" if average["used"] else "scored below the best epoch and was not kept"
    return (f"The average of the weights of epochs {span} (SWA, batch norm recomputed) reached "
            f"{average['val_accuracy']:.1%} on validation and {kept}. ")


def test_accuracy(splits, analysed, lang="en"):
    """Sentences with the accuracy on each test split, the course's average, and the hardest class.

    Args:
        splits: {split: ``evaluate.classification_metrics``} (a run's ``metrics["splits"]``).
        analysed: the split the report analyses (``evaluate.resolve_split``); its hardest class is named.
        lang: "zh" or "en".
    """
    zh = _language(lang) == "zh"
    tests = [split for split in evaluate.TEST_SPLITS if split in splits]
    if tests and zh:
        parts = [f"{s} {splits[s]['accuracy']:.1%}（macro-F1 {splits[s]['macro_f1']:.3f}，n = {splits[s]['n']:,}）"
                 for s in tests]
        sentence = "測試準確率：" + "；".join(parts) + "。"
    elif tests:
        parts = [f"{splits[s]['accuracy']:.1%} on {s} (macro-F1 {splits[s]['macro_f1']:.3f}, n = {splits[s]['n']:,})"
                 for s in tests]
        sentence = "Test accuracy: " + "; ".join(parts) + "."
    else:
        val = splits["val"]
        sentence = (f"資料沒有標註好的測試集，所以用驗證集代替（沒拿來訓練，但 checkpoint 是依它挑的）：準確率 {val['accuracy']:.1%}（macro-F1 "
                    f"{val['macro_f1']:.3f}，n = {val['n']:,}）。" if zh else
                    f"The data has no labeled test split: accuracy on the validation faces (never trained on, though the "
                    f"checkpoint was chosen on them) is "
                    f"{val['accuracy']:.1%} (macro-F1 {val['macro_f1']:.3f}, n = {val['n']:,}).")
    if {"PublicTest", "PrivateTest"} <= set(tests):
        average = (splits["PublicTest"]["accuracy"] + splits["PrivateTest"]["accuracy"]) / 2
        sentence += (f"兩者平均為 {average:.1%}（原報告引用的就是這個平均）。" if zh else
                     f" The average of the two, the figure the original report quoted, is {average:.1%}.")
    worst = min(splits[analysed]["per_class"].items(), key=lambda item: item[1]["recall"])
    if zh:
        return sentence + (f"在{_pad(split_name(analysed, lang))}上最難辨識的是{class_name(worst[0], lang)}，"
                           f"recall 只有 {worst[1]['recall']:.1%}。")
    return sentence + (f" The hardest class on {split_name(analysed)} is {class_name(worst[0])} "
                       f"(recall {worst[1]['recall']:.1%}).")


def parameter_match(dnn_parameters, cnn_parameters, lang="en"):
    """A sentence comparing the DNN's parameter count with the CNN's."""
    difference = dnn_parameters / cnn_parameters - 1
    if _language(lang) == "zh":
        return f"DNN 有 {dnn_parameters:,} 個參數，CNN 有 {cnn_parameters:,} 個（相差 {difference:+.2%}）。"
    return (f"The DNN has {dnn_parameters:,} parameters against the CNN's {cnn_parameters:,} "
            f"({difference:+.2%}).")


def points(first, second):
    """The difference in percentage points of two shares as the report prints them (one decimal): 81.7 % and
    80.1 % give 1.6, whatever the digits behind."""
    return round(round(first * 100, 1) - round(second * 100, 1), 1)


#: Parameter counts within this share of each other read as "about the same" (Q2's matched DNN is within 1 %).
SAME_SIZE = 0.01


def comparison(result, lang="en"):
    """Sentences comparing the CNN and the DNN, from ``fer_utils.workbook.comparison``.

    The difference in points is taken between the accuracies as printed (one decimal), so the sentence's
    subtraction checks out on the page.
    """
    cnn, dnn = result["models"]["CNN"], result["models"]["DNN"]
    difference = points(cnn["accuracy"], dnn["accuracy"])
    cnn_gap, dnn_gap = (points(values["train_accuracy"], values["accuracy"]) if "train_accuracy" in values
                        else values["gap"] * 100 for values in (cnn, dnn))
    ratio = cnn["parameters"] / dnn["parameters"]
    counts = f"{cnn['parameters']:,}"
    if _language(lang) == "zh":
        split = split_name(result["split"], lang)
        lead = f"CNN 高了 {difference:.1f} 個百分點" if difference >= 0 else f"CNN 反而低了 {-difference:.1f} 個百分點"
        size = (f"兩者參數量幾乎相同（{counts} 對 {dnn['parameters']:,}）" if abs(ratio - 1) < SAME_SIZE
                else f"CNN 的參數量是 DNN 的 {ratio:.2f} 倍（{counts} 對 {dnn['parameters']:,}）")
        return (f"在{_pad(split)}上，CNN 的準確率是 {cnn['accuracy']:.1%}，DNN 是 {dnn['accuracy']:.1%}，{lead}；"
                f"{size}。訓練集和{_pad(split)}準確率的落差（兩者都是"
                f"{TTA_WORDS_ZH[result['tta']]}）：CNN {cnn_gap:.1f} 個百分點，DNN "
                f"{dnn_gap:.1f} 個百分點；每個 epoch CNN 要 {cnn['seconds_per_epoch']:.1f} 秒，DNN 要 "
                f"{dnn['seconds_per_epoch']:.1f} 秒。")
    split = split_name(result["split"])
    size = (f"about the same number of parameters ({counts} against {dnn['parameters']:,})"
            if abs(ratio - 1) < SAME_SIZE else f"{ratio:.2f}x the parameters ({counts} against {dnn['parameters']:,})")
    return (f"On {split} the CNN reaches {cnn['accuracy']:.1%} and the DNN {dnn['accuracy']:.1%}, "
            f"{difference:+.1f} points for the CNN with {size}. The gap between training and {split} "
            f"accuracy (both with {TTA_WORDS[result['tta']]}) is {cnn_gap:.1f} points for the CNN and "
            f"{dnn_gap:.1f} for the DNN; an epoch takes {cnn['seconds_per_epoch']:.1f} s against "
            f"{dnn['seconds_per_epoch']:.1f} s.")


def analysed_accuracy(split, n, accuracy, lang="en"):
    """A sentence naming the analysed faces and the accuracy on them."""
    if _language(lang) == "zh":
        return f"{split_title(split, lang)}共 {n:,} 張，準確率 {accuracy:.1%}。"
    return f"{n:,} {split_title(split)}, accuracy {accuracy:.1%}."


def confusions(summary, lang="en"):
    """Sentences naming the most-confused pairs (ranked by rate; pairs never confused are left out), from
    ``evaluate.confusion_summary``."""
    pairs = [pair for pair in summary["pairs"] if pair["errors"]]
    if not pairs:
        return "沒有任何兩個 class 被互相認錯。" if _language(lang) == "zh" else "No two classes are confused."
    summary = {**summary, "pairs": pairs}
    if _language(lang) == "zh":
        described = [f"{class_name(pair['first'], lang)}和{class_name(pair['second'], lang)}，兩類的臉有 "
                     f"{pair['rate']:.1%} 被認成對方（前者認成後者 {pair['first_as_second']} 張，後者認成前者 "
                     f"{pair['second_as_first']} 張）" if index == 0 else
                     f"{class_name(pair['first'], lang)}和{class_name(pair['second'], lang)}，{pair['rate']:.1%}"
                     f"（{pair['first_as_second']} 張和 {pair['second_as_first']} 張）"
                     for index, pair in enumerate(summary["pairs"])]
        joined = described[0] + "".join(f"；{'其次是' if index == 1 else '再來是'}{text}"
                                         for index, text in enumerate(described[1:], start=1))
        return f"依互相認錯的比例排，最常被搞混的是{joined}。"
    described = [f"*{pair['first']} / {pair['second']}* ({pair['rate']:.1%} of their faces: {pair['first_as_second']} "
                 f"one way, {pair['second_as_first']} the other)" if index == 0 else
                 f"*{pair['first']} / {pair['second']}* ({pair['rate']:.1%}: {pair['first_as_second']} and "
                 f"{pair['second_as_first']})" for index, pair in enumerate(summary["pairs"])]
    return "Ranked by the share of their faces taken for each other, the classes confused most often are " + \
        ", then ".join(described) + "."


def class_errors(summary, lang="en"):
    """Sentences on the class recognised worst (and what it is taken for), the rarest class and the class that
    absorbs the most errors, from ``evaluate.confusion_summary``."""
    worst, rarest, absorbing = summary["worst"], summary["rarest"], summary["absorbing"]
    zh = _language(lang) == "zh"
    if zh:
        recall = (f"一張都沒認對（recall {worst['recall']:.1%}）" if worst["recall"] == 0
                  else f"recall 只有 {worst['recall']:.1%}")
        text = (f"辨識得最差的 class 是{class_name(worst['class'], lang)}，{recall}，"
                f"它的臉有 {worst['to_share']:.1%} 被認成{class_name(worst['to'], lang)}。")
        if summary.get("never_predicted"):
            text += f"模型從來沒有預測過{_series([class_name(name, lang) for name in summary['never_predicted']], lang)}。"
        if rarest["class"] == worst["class"]:
            text += f"它也是張數最少的 class：只有 {rarest['support']:,} 張（佔 {rarest['share']:.1%}）。"
        else:
            text += (f"張數最少的 class 是{class_name(rarest['class'], lang)}，{rarest['support']:,} 張（佔 "
                     f"{rarest['share']:.1%}），recall {rarest['recall']:.1%}。")
        return text + (f"錯誤的預測最常落在{class_name(absorbing['class'], lang)}：{absorbing['errors']:,} 個答錯的預測中有 "
                       f"{absorbing['received']:,} 個（{absorbing['share']:.1%}）判成它。")
    text = (f"The class recognised worst is {class_name(worst['class'])} (recall {worst['recall']:.1%}); "
            f"{worst['to_share']:.1%} of its faces are taken for {class_name(worst['to'])}.")
    if summary.get("never_predicted"):
        text += f" The model never predicts {_series([class_name(name) for name in summary['never_predicted']])}."
    if rarest["class"] == worst["class"]:
        text += f" It is also the rarest class, {rarest['support']:,} faces ({rarest['share']:.1%})."
    else:
        text += (f" The rarest class is {class_name(rarest['class'])}, {rarest['support']:,} faces "
                 f"({rarest['share']:.1%}), with recall {rarest['recall']:.1%}.")
    return text + (f" The class that absorbs the most errors is {class_name(absorbing['class'])}: "
                   f"{absorbing['received']:,} of the {absorbing['errors']:,} wrong predictions "
                   f"({absorbing['share']:.1%}) name it.")


#: What the gallery's measures are called in each language.
MEASURE_WORDS = {"brightness": ("亮度", "brightness"), "contrast": ("對比", "contrast"), "confidence": ("信心", "confidence")}


def gallery(profile, lang="en"):
    """Sentences on what sets the gallery's mistakes apart, from ``evaluate.gallery_profile``: their classes, then
    brightness and contrast against correctly classified faces, then confidence, each with Cohen's d; a difference
    is named only from ``evaluate.NOTABLE_EFFECT`` up."""
    zh = _language(lang) == "zh"
    limit = evaluate.NOTABLE_EFFECT
    (true, true_count), (taken, taken_count) = profile["true"][0], profile["predicted"][0]
    measures = profile["measures"]
    looks = [name for name in ("brightness", "contrast") if abs(measures[name]["d"]) >= limit]
    same = [name for name in ("brightness", "contrast") if name not in looks]
    confidence = measures["confidence"]
    if zh:
        text = (f"上面答錯的 {profile['shown']} 張臉中，真實 class 最多的是{class_name(true, lang)}，有 {true_count} 張；"
                f"最常被判成{class_name(taken, lang)}，有 {taken_count} 張。")
        for name in looks:
            value = measures[name]
            direction = "高" if value["d"] > 0 else "低"
            text += (f"它們的{MEASURE_WORDS[name][0]}比答對的臉{direction}（平均 {value['mistakes']:.0f} 對 "
                     f"{value['correct']:.0f}，Cohen's d = {value['d']:.2f}）。")
        if same:
            parts = "、".join(f"{MEASURE_WORDS[name][0]} d = {measures[name]['d']:.2f}" for name in same)
            every, items = ("都", "兩") if len(same) > 1 else ("", "一")
            text += (f"和答對的臉相比，{parts}，差距{every}不到 {limit:g} 個標準差：這{items}項上它們和答對的臉沒有明顯差別。")
        return text + (f"真正不同的是模型的信心：所有答錯的預測平均信心 {confidence['mistakes']:.1%}，答對的 "
                       f"{confidence['correct']:.1%}（d = {confidence['d']:.2f}）。" if abs(confidence["d"]) >= limit else
                       f"模型的信心也差不多：答錯的平均 {confidence['mistakes']:.1%}，答對的 {confidence['correct']:.1%}"
                       f"（d = {confidence['d']:.2f}）。")
    text = (f"Among the {profile['shown']} mistakes of the gallery, the most common true class is {class_name(true)} "
            f"({true_count}) and the most common answer {class_name(taken)} ({taken_count}).")
    words = {"brightness": ("brighter", "darker"), "contrast": ("higher in contrast", "lower in contrast")}
    for name in looks:
        value = measures[name]
        text += (f" They are {words[name][0 if value['d'] > 0 else 1]} than correctly classified faces "
                 f"(mean {value['mistakes']:.0f} against {value['correct']:.0f}, Cohen's d = {value['d']:.2f}).")
    if same:
        parts = _series([f"{name} (d = {measures[name]['d']:.2f})" for name in same])
        text += (f" Their {parts} {'differ' if len(same) > 1 else 'differs'} from correctly classified faces' by "
                 f"less than {limit:g} standard deviations: in {'these respects' if len(same) > 1 else 'this'} they "
                 "are not unusual images.")
    if abs(confidence["d"]) >= limit:
        return text + (f" What sets mistakes apart is the model's confidence: {confidence['mistakes']:.1%} on average "
                       f"over all mistakes against {confidence['correct']:.1%} on correct answers "
                       f"(d = {confidence['d']:.2f}).")
    return text + (f" The model is about as confident on its mistakes ({confidence['mistakes']:.1%}) as on correct "
                   f"answers ({confidence['correct']:.1%}, d = {confidence['d']:.2f}).")


def regions_origin(synthetic, lang="en"):
    """Where Q4's face regions come from: the generator's own boxes, or boxes measured on FER2013's framing."""
    if _language(lang) == "zh":
        return ("臉部區域是產生器自己畫眉毛、眼睛、鼻子和嘴巴的位置。" if synthetic
                else "臉部區域是在 FER2013 的取景上量出來的框。")
    return ("The regions are the boxes where the generator draws the brows, eyes, nose and mouth." if synthetic
            else "The regions are boxes measured on FER2013's framing.")


def region_share(summary, lang="en"):
    """Sentences on how much saliency falls on brows+eyes and on the mouth, each against its area, and the classes
    whose saliency weighs more on the mouth per pixel, from ``saliency.region_summary``."""
    upper = summary["upper_share"] / summary["upper_area"]  # per pixel, as the table's per-pixel columns
    mouth = summary["mouth_share"] / summary["mouth_area"]
    heavy = summary["mouth_heavy_classes"]
    if _language(lang) == "zh":
        if not heavy:
            classes = "以每個像素來看，每個 class 都是眉毛和眼睛至少和嘴巴一樣受重視。"
        elif len(heavy) == len(CLASS_ZH):
            classes = "以每個像素來看，每個 class 都是嘴巴比眉毛和眼睛更受重視。"
        else:
            classes = f"以每個像素來看，嘴巴比眉毛和眼睛更受重視的是{_series([class_name(n, lang) for n in heavy], lang)}。"
        return (f"平均來說，眉毛和眼睛拿到 {summary['upper_share']:.0%} 的 saliency（佔畫面的 "
                f"{summary['upper_area']:.0%}，每個像素是平均分配的 {upper:.2f} 倍），嘴巴拿到 {summary['mouth_share']:.0%}"
                f"（佔畫面的 {summary['mouth_area']:.0%}，{mouth:.2f} 倍）。{classes}")
    if not heavy:
        classes = "Per pixel, brows and eyes weigh at least as much as the mouth for every class."
    elif len(heavy) == len(CLASS_ZH):
        classes = "Per pixel, the mouth weighs more than brows and eyes for every class."
    else:
        classes = f"Per pixel, the mouth weighs more than brows and eyes for {_series([class_name(n) for n in heavy])}."
    return (f"On average {summary['upper_share']:.0%} of the saliency falls on the brows and eyes, which cover "
            f"{summary['upper_area']:.0%} of the image ({upper:.2f} times an even spread per pixel), and "
            f"{summary['mouth_share']:.0%} on the mouth, which covers {summary['mouth_area']:.0%} ({mouth:.2f} times). "
            f"{classes}")


#: The saliency methods as the report names them.
METHOD_NAMES = {"vanilla": "vanilla gradient", "smoothgrad": "SmoothGrad", "integrated_gradients": "Integrated Gradients",
                "grad_cam": "Grad-CAM"}


def method_name(name):
    """A saliency method's display name ("integrated_gradients" -> "Integrated Gradients")."""
    return METHOD_NAMES.get(name, name)


def checks(table, lang="en", threshold=0.5, margin=None):
    """Sentences on the randomisation and deletion checks of the saliency methods, thresholds and values stated.

    Args:
        table: ``saliency.SanityChecks.table`` (one row per method; columns ``spearman_after_randomisation``,
            ``passes_randomisation``, ``faithful``, ``deletion_auc``, ``random_order_auc`` and, for IG,
            ``completeness_gap``).
        lang: "zh" or "en".
        threshold: the rank correlation below which a method passes (``saliency.sanity_checks``'s).
        margin: how far below random order a faithful map's deletion AUC is (``saliency.FAITHFUL_MARGIN``).
    """
    if margin is None:
        from fer_utils.saliency import FAITHFUL_MARGIN as margin
    zh = _language(lang) == "zh"
    values = {name: table.loc[name, "spearman_after_randomisation"] for name in table.index}
    listed = lambda names: _series([f"{method_name(name)} {values[name]:.2f}" for name in names], lang)  # noqa: E731
    passed = [name for name in table.index if table.loc[name, "passes_randomisation"]]
    flagged = [name for name in table.index if not table.loc[name, "passes_randomisation"]]
    faithful = [name for name in table.index if table.loc[name, "faithful"]]
    aucs = table["deletion_auc"].round(3)
    best = [name for name in table.index if aucs[name] == aucs.min()]
    random_auc = table["random_order_auc"].iloc[0]
    gaps = table["completeness_gap"].dropna() if "completeness_gap" in table else table.index[:0]
    best_names = _series([method_name(name) for name in best], lang)
    if zh:
        text = f"把每一層重新隨機初始化之後，map 和原本的 rank correlation（門檻 {threshold:g}）："
        text += f"{listed(passed)} 掉到門檻以下，通過" if passed else "沒有任何方法掉到門檻以下"
        text += f"；{listed(flagged)} 沒有掉到門檻以下，沒通過：它的 map 不太隨模型的權重改變，解釋不了這個模型。" if flagged else "。"
        unfaithful = [name for name in table.index if name not in faithful]
        text += f"依 saliency 由高到低刪掉像素，機率下降曲線的 AUC 越低越忠實；隨機順序是 {random_auc:.3f}，"
        scored = _series([f'{method_name(name)}（{aucs[name]:.3f}）' for name in unfaithful], lang)
        if not faithful:
            text += f"沒有任何方法比它低至少 {margin:g}：{scored}都不比隨機順序好。"
        else:
            text += (f"{_pad(_series([method_name(name) for name in faithful], lang)).lstrip()}比它低至少 {margin:g}"
                     + (f"，{scored}沒有，不比隨機順序好。" if unfaithful else "。"))
        text += (f"最低的是 {best_names}（{aucs[best[0]]:.3f}）。" if len(best) == 1
                 else f"最低的是 {best_names}，並列 {aucs[best[0]]:.3f}。")
        if len(gaps):
            text += f"Integrated Gradients 加總起來和分數差距平均只差 {gaps.iloc[0]:.1%}。"
        if set(best) & set(flagged):
            text += (f"{_series([method_name(name) for name in best if name in flagged], lang)} 的 deletion AUC 最低卻沒通過"
                     "隨機化檢查：兩個檢查問的是不同的事。刪除檢驗問它標出的像素是不是這次預測靠的像素，隨機化檢查問 map 是不是"
                     "取決於學到的權重；一張 map 如果大半跟著臉本身的結構走，就可能通過前者、卻沒通過後者（Adebayo et al. 2018）。")
        return text
    text = f"After re-initialising every layer, the maps' rank correlation with the originals (threshold {threshold:g}) "
    text += f"falls below the threshold for {listed(passed)}: they pass" if passed else "stays above it for every method"
    text += (f"; it stays above for {listed(flagged)}, which fail{'s' if len(flagged) == 1 else ''}: "
             f"{'its map does' if len(flagged) == 1 else 'their maps do'} not follow the model's weights closely "
             "enough to explain it." if flagged else ".")
    text += (f" Deleting pixels in saliency order, a lower area under the probability curve means a more faithful "
             f"map; random order gives {random_auc:.3f}")
    unfaithful = [name for name in table.index if name not in faithful]
    scored = _series([f'{method_name(name)} ({aucs[name]:.3f})' for name in unfaithful])
    if not faithful:
        text += (f", and no method goes at least {margin:g} below it: {scored} "
                 f"{'is' if len(unfaithful) == 1 else 'are'} no better than random order.")
    else:
        text += (f", and {_series([method_name(name) for name in faithful])} {'goes' if len(faithful) == 1 else 'go'} "
                 f"at least {margin:g} below it"
                 + (f"; {scored} {'does' if len(unfaithful) == 1 else 'do'} not: no better than random order."
                    if unfaithful else "."))
    text += (f" The lowest is {best_names} ({aucs[best[0]]:.3f})." if len(best) == 1
             else f" The lowest are {best_names}, tied at {aucs[best[0]]:.3f}.")
    if len(gaps):
        text += f" Integrated Gradients adds up to the score difference within {gaps.iloc[0]:.1%} on average."
    if set(best) & set(flagged):
        text += (f" {_series([method_name(name) for name in best if name in flagged])} has the lowest deletion AUC yet "
                 "fails the randomisation check: the two checks ask different things. Deletion asks whether the pixels "
                 "a map marks are the ones this prediction rests on, randomisation whether the map depends on the "
                 "learned weights; a map that largely follows the face's own structure can pass the first and fail the "
                 "second (Adebayo et al. 2018).")
    return text


def layers(conv_layers, early, deep, lang="en"):
    """A sentence listing a model's convolution layers and the two Q5 visualises."""
    if _language(lang) == "zh":
        return f"卷積層：{', '.join(conv_layers)}。淺層取 `{early}`，深層取 `{deep}`。"
    return f"Convolution layers: {', '.join(conv_layers)}. Early layer: `{early}`; deep layer: `{deep}`."


def filter_classes(summary, lang="en"):
    """Sentences on which classes dominate the filters' top faces, from ``features.filter_class_summary``."""
    never = summary["never_dominant"]
    if _language(lang) == "zh":
        leading = "、".join(f"{class_name(name, lang)}{count} 個" for name, count in summary["dominant_counts"].items())
        text = (f"`{summary['layer']}` 的 {summary['filters']} 個 filter 中，依每個 filter 最能激發它的前 {summary['k']} "
                f"張臉裡最多的 class 來分：{leading}。有 {summary['selective']} 個 filter 的前幾名有一半以上屬於同一類；"
                + _top_share(summary, lang))
        if never:
            text += f"沒有任何 filter 以{_series([class_name(name, lang) for name in never], lang).replace('和', '或')}為主。"
        return text
    leading = ", ".join(f"*{name}* {count}" for name, count in summary["dominant_counts"].items())
    text = (f"Of the {summary['filters']} filters of `{summary['layer']}`, the class most frequent among each filter's "
            f"top {summary['k']} faces is: {leading}. {summary['selective']} filters have one class in at least half "
            f"of their top faces; " + _top_share(summary, lang))
    if never:
        text += f" No filter is dominated by {_series([f'*{name}*' for name in never]).replace(' and ', ' or ')}."
    return text


def _top_share(summary, lang):
    """The filters with the highest one-class share of their top faces: one named, or how many tie."""
    tied = summary.get("at_top_share") or [summary["most_selective"]]
    share = summary.get("top_share", summary["most_selective"]["share"])
    shown = tied[:3]
    if lang == "zh":
        named = "、".join(f"第 {item['filter']} 號（{CLASS_ZH[item['class']]}）" for item in shown)
        if len(tied) == 1:
            return f"單一 class 比例最高的是{named}，{share:.0%}。"
        more = f"，另外還有 {len(tied) - len(shown)} 個" if len(tied) > len(shown) else ""
        return f"有 {len(tied)} 個 filter 並列最高，前幾名 {share:.0%} 屬於同一類：{named}{more}。"
    named = ", ".join(f"{item['filter']} ({class_name(item['class'])})" for item in shown)
    more = f" and {len(tied) - len(shown)} more" if len(tied) > len(shown) else ""
    if len(tied) == 1:
        return f"the highest one-class share is filter {named}'s, {share:.0%}."
    return f"{len(tied)} filters tie at the highest one-class share, {share:.0%}: filters {named}{more}."


def audit(summary, lang="en"):
    """One or two sentences with the data audit's numbers, from ``fer_utils.audit.summary``."""
    n = summary["rows"]
    rarest = summary.get("rarest")
    if _language(lang) == "zh":
        sentence = (f"檢查了 {n:,} 張圖：完全重複的副本 {summary['exact_copies']:,} 張（{summary['exact_copies'] / n:.1%}），"
                    f"分屬 {summary['exact_sets']:,} 組")
        if summary["cross_split_sets"]:
            sentence += f"，其中 {summary['cross_split_sets']:,} 組橫跨兩個 split"
        if summary["label_conflict_sets"]:
            sentence += f"，{summary['label_conflict_sets']:,} 組的標籤互相矛盾"
        sentence += (f"；近似重複 {summary['near_pairs']:,} 對（{summary['near_cross_split']:,} 對跨 split），"
                     f"空白或幾乎單色的圖 {summary['blank']:,} 張。")
        if rarest:
            sentence += (f"最少的 class 是{class_name(rarest['class'], lang)}，只有 {rarest['count']:,} 張"
                         f"（佔有標籤資料的 {rarest['share']:.1%}）。")
        return sentence
    parts = [f"The audit of {n:,} images found {summary['exact_copies']:,} exact duplicate copies "
             f"({summary['exact_copies'] / n:.1%}) in {summary['exact_sets']:,} sets"]
    if summary["cross_split_sets"]:
        parts.append(f"{summary['cross_split_sets']:,} of them spanning two splits")
    if summary["label_conflict_sets"]:
        parts.append(f"{summary['label_conflict_sets']:,} with conflicting labels")
    sentence = ", ".join(parts) + "; "
    sentence += (f"{summary['near_pairs']:,} near-duplicate pairs ({summary['near_cross_split']:,} across splits) "
                 f"and {summary['blank']:,} blank or near-constant images.")
    if rarest:
        sentence += (f" The rarest class is {rarest['class']} with {rarest['count']:,} images "
                     f"({rarest['share']:.1%} of the labeled ones).")
    return sentence


def _synthetic_note(synthetic, zh, en, lang):
    """The sentence saying what a finding means for generated faces (empty on real data)."""
    if not synthetic:
        return ""
    return zh if lang == "zh" else " " + en


def _join(lang, *sentences):
    """Sentences glued the way each language writes them (no spaces between Chinese sentences)."""
    return ("" if lang == "zh" else " ").join(sentence.strip() for sentence in sentences if sentence.strip())


def cnn_answer(headline, lang="en"):
    """Q1's explanation (說明): the CNN's size and its accuracy on the test splits, from ``workbook.headline``.

    Args:
        headline: {"model", "parameters", "splits" ({split: classification metrics}), "split" (analysed),
            "synthetic", optionally "blocks" (``models.conv_blocks``)}.
        lang: "zh" or "en".
    """
    _language(lang)
    return _join(lang, _model_opening(headline["model"], headline["parameters"], headline.get("blocks"), lang),
                 test_accuracy(headline["splits"], headline["split"], lang), _cnn_note(headline["synthetic"], lang))


def _model_opening(model, parameters, blocks, lang):
    """Q1's first sentence: the CNN's name and size and, from ``models.conv_blocks``, how its convolutions are built."""
    zh = lang == "zh"
    text = (f"我實作的 CNN 是 `{model}`，共 {parameters:,} 個參數" if zh
            else f"The CNN is `{model}` with {parameters:,} parameters")
    if blocks and blocks["convolutions"]:
        count, normalised = blocks["convolutions"], blocks["normalised"]
        if zh:
            built = ("每一層後面都接 batch normalization 和 ReLU" if normalised == count
                     else f"其中 {normalised} 層後面接 batch normalization 和 ReLU")
            text += f"：{count} 個卷積層，{built}"
        else:
            built = ("each followed by batch normalisation and ReLU" if normalised == count
                     else f"{normalised} of them followed by batch normalisation and ReLU")
            text += f": {count} convolutions, {built}"
    return text + ("（層的細節見上表）。" if zh else " (layers in the table above).")


def _cnn_note(synthetic, lang):
    """What Q1's accuracy means on generated faces (empty on real data)."""
    return _synthetic_note(synthetic,
                           "這些臉是程式產生的合成資料，所以準確率說的是模型能不能分辨產生器畫出的表情，"
                           "不代表在真實 FER2013 照片上的表現；第一頁「結果一覽」裡 2017 年原報告的數字才是真實資料的參考。",
                           "These faces are generated, so the accuracy says how well the model tells apart the "
                           "generator's expressions, not how it would do on real FER2013 photographs; the 2017 "
                           "report's figures on the first page are the reference for real data.", lang)


#: The level below which a paired test's p-value counts as a difference (``dnn_answer``).
SIGNIFICANCE = 0.05


def paired_test(paired, lang="en"):
    """McNemar's exact test of the CNN against the DNN (``evaluate.mcnemar``) in words, its counts and p-value.

    Returns:
        (verdict, sentence): verdict "cnn", "dnn" or "tie" (p at or above ``SIGNIFICANCE``).
    """
    zh = _language(lang) == "zh"
    n, cnn_only, dnn_only, p = paired["n"], paired["first_only"], paired["second_only"], paired["p_value"]
    verdict = "tie" if p >= SIGNIFICANCE else ("cnn" if cnn_only > dnn_only else "dnn")
    p_text = f"p = {p:.2g}" if p >= 0.001 else "p < 0.001"
    if zh:
        counts = (f"在同樣的 {n:,} 張臉上，只有 CNN 答對的有 {cnn_only:,} 張，只有 DNN 答對的有 {dnn_only:,} 張"
                  f"（McNemar exact test，{p_text}）")
        return verdict, counts + {"cnn": f"，低於 {SIGNIFICANCE:g}：CNN 確實比較準。",
                                  "dnn": f"，低於 {SIGNIFICANCE:g}：DNN 確實比較準。",
                                  "tie": f"，沒有低於 {SIGNIFICANCE:g}：兩者的差距在這些臉上不顯著。"}[verdict]
    counts = (f"On the same {n:,} faces, the CNN alone is right on {cnn_only:,} and the DNN alone on {dnn_only:,} "
              f"(McNemar exact test, {p_text}")
    return verdict, counts + {"cnn": f", below {SIGNIFICANCE:g}): the CNN is the more accurate.",
                              "dnn": f", below {SIGNIFICANCE:g}): the DNN is the more accurate.",
                              "tie": f", not below {SIGNIFICANCE:g}): the difference is not significant on these "
                                     "faces."}[verdict]


def dnn_answer(result, synthetic, lang="en"):
    """Q2's explanation (說明): the comparison with the CNN, whether it is significant, and why.

    Args:
        result: ``workbook.comparison`` of {"CNN": ..., "DNN": ...} with its ``paired`` test.
        synthetic: the faces are generated.
        lang: "zh" or "en".
    """
    zh = _language(lang) == "zh"
    cnn, dnn = result["models"]["CNN"], result["models"]["DNN"]
    verdict, tested = paired_test(result["paired"], lang) if "paired" in result else ("tie", "")
    dense, largest = dnn["largest_layer"], cnn["largest_layer"]
    if zh:
        where = (f"DNN 的參數有 {dense['share']:.0%} 在 `{dense['name']}` 這一層（每個像素對每個神經元各一個權重，"
                 f"臉上每個位置都要各自學）；CNN 最大的一層 `{largest['name']}` 佔它的 {largest['share']:.0%}，"
                 "小 filter 在整張臉上共用同一組權重，嘴角、眉毛出現在哪裡都用同一組權重偵測。")
        meaning = {"cnn": "參數量差不多，差別在參數花在哪裡：" + where,
                   "dnn": "這次 DNN 比較準：在這份資料上，權重共用沒有帶來優勢。" + where,
                   "tie": "兩者參數花的地方不同：" + where + "只是這次的準確率差距還不足以下結論。"}[verdict]
    else:
        where = (f"{dense['share']:.0%} of the DNN's parameters sit in `{dense['name']}`, one weight per pixel and "
                 f"unit, so every position of the face is learned anew; the CNN's largest layer, `{largest['name']}`, "
                 f"holds {largest['share']:.0%} of its parameters, small filters shared across the face, so a mouth "
                 "corner or a brow is detected by the same weights wherever it is.")
        meaning = {"cnn": "With about the same number of parameters, the difference is where they sit: " + where,
                   "dnn": "Here the DNN is the more accurate: sharing weights brought no advantage on this data. "
                          + where,
                   "tie": "The two spend their parameters differently: " + where + " This run's accuracies, though, "
                          "do not tell them apart."}[verdict]
    improving = [label for label, values in (("CNN", cnn), ("DNN", dnn))
                 if still_improving({"best_epoch": values["best_epoch"], "epochs_run": values["epochs"],
                                     "stopped_by": values["stopped_by"]})]
    trend = ""
    if improving:
        trend = (f"{_series(improving, 'zh')} 的最好 epoch {'都' if len(improving) > 1 else '就'}是最後一個：停下來時還在進步，"
                 "比較是在訓練還沒飽和時做的。" if zh
                 else (f"The {improving[0]}'s best epoch was its last" if len(improving) == 1
                       else "Both networks' best epoch was their last")
                 + ": still improving when stopped, so the comparison is of networks not trained to the end.")
    note = _synthetic_note(synthetic, "這是在合成資料上的比較；真實照片的差距請參考 2017 年原報告（CNN 60.9%、DNN 35.4%）。",
                           "This comparison is on generated faces; for real photographs see the 2017 report "
                           "(CNN 60.9%, DNN 35.4%).", lang)
    return _join(lang, comparison(result, lang), tested, meaning, trend, note)


def confusion_answer(summary, synthetic, lang="en", profile=None):
    """Q3's explanation (說明): the most-confused pairs, the classes that fare worst, and the gallery's mistakes.

    Args:
        summary: ``evaluate.confusion_summary``.
        synthetic: the faces are generated.
        lang: "zh" or "en".
        profile: ``evaluate.gallery_profile`` of the gallery, or None to leave it out.
    """
    note = _synthetic_note(synthetic, "在合成資料上，兩類容易混淆代表產生器把這兩種表情畫得很像，"
                                      "不代表人也覺得它們難以分辨。",
                           "On generated faces a confused pair means the generator draws the two expressions alike, "
                           "not that people would find them ambiguous.", lang)
    return _join(lang, confusions(summary, lang), class_errors(summary, lang),
                 gallery(profile, lang) if profile else "", note)


def saliency_answer(regions, table, synthetic, lang="en"):
    """Q4's explanation (說明): where the saliency falls and which maps pass the checks.

    Args:
        regions: ``saliency.region_summary``.
        table: ``saliency.SanityChecks.table``.
        synthetic: the faces are generated.
        lang: "zh" or "en".
    """
    note = _synthetic_note(synthetic, "合成的臉主要靠眉毛、眼睛和嘴巴來表現表情，所以 saliency 集中在這些部位，"
                                      "代表模型抓到的是產生器放進去的線索。",
                           "Generated faces show their expression mainly through the brows, eyes and mouth, so saliency "
                           "on them means the model found the cues the generator puts there.", lang)
    return _join(lang, region_share(regions, lang), checks(table, lang), note)


#: A correlation below this reads as weak (``class_pictures``).
WEAK_CORRELATION = 0.3


def filter_pictures(early, deep, lang="en"):
    """Sentences on the two layers' ascent images, from two ``features.ascent_summary``: which layer each shows and
    how far above the analysed faces they drive their filters."""
    from fer_utils.features import STRONGER_THAN_FACES as limit

    zh = _language(lang) == "zh"
    if zh:
        counted = [f"全部 {layer['filters']} 個" if layer["stronger"] == layer["filters"]
                   else f"{layer['filters']} 個中有 {layer['stronger']} 個" for layer in (early, deep)]
        return (f"第 1 部分的兩張圖分別是淺層 `{early['layer']}` 和深層 `{deep['layer']}`。淺層的 filter {counted[0]}、"
                f"深層的{_pad(counted[1]).rstrip()}，被自己的 gradient ascent 圖激發到比它對分析集臉孔的平均反應高出至少 "
                f"{limit:g} 個標準差（中位數分別是 {early['median_z']:.1f} 和 {deep['median_z']:.1f} 個標準差）。")
    counted = [f"all {layer['filters']}" if layer["stronger"] == layer["filters"]
               else f"{layer['stronger']} of the {layer['filters']}" for layer in (early, deep)]
    return (f"Part 1 shows the early layer `{early['layer']}` and the deep layer `{deep['layer']}`. "
            f"{counted[0].capitalize()} early filters and {counted[1]} deep ones respond to their ascent image at least "
            f"{limit:g} standard deviations above their mean response to the analysed faces (medians "
            f"{early['median_z']:.1f} and {deep['median_z']:.1f}).")


def class_pictures(resemblance, lang="en"):
    """Sentences on the class images, from ``features.class_resemblance``: how many carry their own class's
    difference from the average face, and how strongly."""
    zh = _language(lang) == "zh"
    own = resemblance["own"]
    matches = resemblance["matches"]
    low, high = min(own.values()), max(own.values())
    weak = high < WEAK_CORRELATION
    names = _series([class_name(name, lang) for name in matches], lang)
    if zh:
        text = (f"第 2 部分的 {len(own)} 張 class 圖中，有 {len(matches)} 張和「自己那一類的平均臉減去整體平均臉」的相關"
                "係數高於和其他任何一類的" + (f"：{names}" if matches else "")
                + f"；純靠運氣大約是 {len(own)} 張中 1 張。和自己那一類的相關係數介於 {low:.2f} 到 {high:.2f}。")
        return text + (f"都低於 {WEAK_CORRELATION:g}，算是弱相關：這些 class 圖看不出像自己那一類的臉。" if weak else "")
    count = f"{len(matches)} ({names}) correlate" if matches else "none correlates"
    if len(matches) == 1:
        count = f"1 ({names}) correlates"
    text = (f"Of the {len(own)} class images of part 2, {count} more with "
            f"{'its' if len(matches) == 1 else 'their'} own class's difference from the average face than with any "
            f"other class's, where chance alone would give about 1 of {len(own)}; the correlation of each with its own "
            f"class ranges from {low:.2f} to {high:.2f}.")
    return text + (f" All are below {WEAK_CORRELATION:g}, weak: the class images do not recognisably resemble their "
                   "class's faces." if weak else "")


def filter_answer(summary, synthetic, lang="en", pictures=None):
    """Q5's explanation (說明): what the filter images show, the class images, and which classes activate the deep
    layer's filters.

    Args:
        summary: ``features.filter_class_summary``.
        synthetic: the faces are generated.
        lang: "zh" or "en".
        pictures: {"early", "deep": ``features.ascent_summary``, "classes": ``features.class_resemblance``}, or
            None to leave the pictures out.
    """
    note = _synthetic_note(synthetic, "在合成資料上，偏好某個 class 的 filter 代表它學到了產生器畫那種表情時用的特徵。",
                           "On generated faces a filter that prefers one class has learned a feature the generator "
                           "draws for that expression.", lang)
    parts = [filter_pictures(pictures["early"], pictures["deep"], lang), class_pictures(pictures["classes"], lang)] \
        if pictures else []
    return _join(lang, *parts, filter_classes(summary, lang), note)


def glance_rows(results):
    """The first page's "Results at a glance": (label, this run, the 2017 report) rows, bilingual labels.

    Args:
        results: {"cnn": ``workbook.headline`` of the CNN, "dnn": of the DNN, "confusions":
            ``evaluate.confusion_summary``, "regions": ``saliency.region_summary``}; a missing key leaves its rows
            out.
    Returns:
        A list of (label, this run's value, the original report's value or "—") tuples of text.
    """
    rows = []
    for label in ("CNN", "DNN"):
        headline = results.get(label.lower())
        if not headline:
            continue
        original = ORIGINAL_2017[label]
        accuracies = {split: metrics["accuracy"] for split, metrics in headline["splits"].items()}
        tests = [split for split in ("PublicTest", "PrivateTest") if split in accuracies]
        for split in tests:
            value = original.get(split)
            rows.append((f"{label} 準確率 accuracy · {split}", f"{accuracies[split]:.1%}",
                         f"{value:.1%}" if value else "—"))
        if len(tests) == 2:
            average = (accuracies["PublicTest"] + accuracies["PrivateTest"]) / 2
            rows.append((f"{label} 平均 average (Public + Private) / 2", f"{average:.1%}", f"{original['average']:.1%}"))
        elif not tests:
            rows.append((f"{label} 準確率 accuracy · 驗證集 validation (no labeled test split)",
                         f"{accuracies['val']:.1%}", "—"))
            rows.append((f"{label} 測試平均 test average (Public + Private) / 2", "—", f"{original['average']:.1%}"))
        rows.append((f"{label} 參數量 parameters", f"{headline['parameters']:,}", f"{original['parameters']:,}"))
    if results.get("confusions"):
        pair = results["confusions"]["pairs"][0]
        rows.append(("最常混淆（依比例）most-confused pair (by rate)",
                     f"{pair['first']} / {pair['second']} ({pair['rate']:.1%} of their faces)", "—"))
    if results.get("regions"):
        regions = results["regions"]
        rows.append(("Saliency 落在 share on",
                     f"brows + eyes {regions['upper_share']:.0%} (area {regions['upper_area']:.0%}), "
                     f"mouth {regions['mouth_share']:.0%} (area {regions['mouth_area']:.0%})", "—"))
    return rows


def _wall_time(wall_seconds, training):
    """The stamp's wall time: the notebooks' time, and which training it includes or reused from before."""
    if not wall_seconds:
        return "unknown"
    text = f"{wall_seconds / 60:.1f} min ({wall_seconds:.0f} s) for the notebooks"
    trained = [f"{model} {seconds:.0f} s" for model, seconds, reused in training or () if not reused]
    reused = [f"{model} {seconds:.0f} s" for model, seconds, reused in training or () if reused]
    if trained:
        text += f", training included ({', '.join(trained)})"
    if reused:
        text += f"; training reused from earlier runs, not included ({', '.join(reused)})"
    return text


def stamp_rows(environment, data_origin, profile, seed, wall_seconds, training=(), precision=""):
    """The reproducibility stamp as (label, value) rows: date, code, versions, machine, data, settings, time.

    Args:
        environment: ``provenance.environment()`` recorded when the workbook ran.
        data_origin: ``provenance.data_origin`` of the run's data.
        profile, seed: the run's settings.
        wall_seconds: the workbook's wall time (all notebooks), or None when unknown.
        training: (model, training seconds, reused from before this workbook) per run it analysed.
        precision: the CNN's training policy (``train``'s metrics: "float32", "mixed_bfloat16", ...), when known.
    """
    if data_origin.get("kind") == "synthetic":
        data = (f"synthetic, generator {data_origin.get('generator', '?')} seed {data_origin.get('seed')}, "
                f"{data_origin.get('rows', 0):,} faces")
    else:
        name = str(data_origin.get("path", "?")).replace("\\", "/").rsplit("/", 1)[-1]
        data = f"{name}, SHA-256 {data_origin.get('sha256') or '?'}"
    return [("日期 Date", environment.get("date", "?")), ("程式 Code", environment.get("git", "?")),
            ("版本 Versions", f"Python {environment.get('python', '?')}, TensorFlow {environment.get('tensorflow', '?')}, "
                              f"Keras {environment.get('keras', '?')}"),
            ("機器 Machine", f"{environment.get('cpu', '?')}, {environment.get('cores', '?')} cores; "
                             f"GPU: {environment.get('gpu') or 'none'}"),
            ("資料 Data", data), ("設定 Settings", f"profile {profile}, seed {seed}"
                                                     + (f", trained in {precision}" if precision else "")),
            ("執行時間 Wall time", _wall_time(wall_seconds, training))]


#: The face parts of notebook 06's sentences.
PART_ZH = {"brows": "眉毛", "eyes": "眼睛", "nose": "鼻子", "mouth": "嘴巴"}


def your_faces(summaries, no_face=(), synthetic=False, shown=None, default_photo=False, lang="en"):
    """Notebook 06's explanation (``photofaces.face_summaries``): where the photo comes from when it is the default
    one, then one sentence per face (the label, the runner-up, the two face parts where its Grad-CAM is densest
    and the share outside the four parts), the photos without a face, how many faces the figure shows
    (``shown``, when fewer than all), and what a label is worth."""
    zh = _language(lang) == "zh"
    sentences = []
    if default_photo:
        sentences.append("照片是 NASA 太空人 Eileen Collins 的公有領域肖像（scikit-image 的 data.astronaut()），可用 photos "
                         "參數換成自己的照片。" if zh else
                         "The photo is NASA's public-domain portrait of astronaut Eileen Collins (scikit-image's "
                         "data.astronaut()); the photos parameter takes your own.")
    if shown is not None and shown < len(summaries):
        sentences.append(f"圖中列出 {len(summaries)} 張臉中的前 {shown} 張。" if zh
                         else f"The figure shows the first {shown} of the {len(summaries)} faces.")
    for face in summaries:
        parts = [part for part in face["parts"] if part["share"] > 0][:2]
        if zh:
            where = "和".join(f"{PART_ZH[part['part']]}（{'熱圖的 ' if index == 0 else ''}{part['share']:.0%}，"
                             f"{'均勻分布的 ' if index == 0 else ''}{part['density']:.1f} 倍）"
                             for index, part in enumerate(parts))
            where = (f"依面積算，Grad-CAM 最密集在{where}；{face['outside']:.0%} 落在四個部位（FER2013 的平均位置）之外。"
                     if parts else "")
            sentences.append(f"{face['photo']} 的第 {face['face']} 張臉：模型判為{class_name(face['label'], lang)}，機率 "
                             f"{face['probability']:.0%}，其次是{class_name(face['runner_up'], lang)}，"
                             f"{face['runner_up_probability']:.0%}。{where}")
        else:
            where = " and ".join(f"the {part['part']} ({part['share']:.0%}{' of the heatmap' if index == 0 else ''}, "
                                 f"{part['density']:.1f} times{' an even spread' if index == 0 else ''})"
                                 for index, part in enumerate(parts))
            where = (f" For their area, Grad-CAM is densest on {where}; {face['outside']:.0%} lies outside the four "
                     f"parts (FER2013's average positions)." if parts else "")
            sentences.append(f"{face['photo']}, face {face['face']}: the model reads {class_name(face['label'])} "
                             f"({face['probability']:.0%}), then {class_name(face['runner_up'])} "
                             f"({face['runner_up_probability']:.0%}).{where}")
    if no_face:
        names = _series([str(name) for name in no_face], lang)
        sentences.append(f"{names} 裡沒有找到臉。" if zh else f"No face was found in {names}.")
    if not summaries and not no_face:
        sentences.append("沒有照片。" if zh else "No photo was given.")
    caveat = ("標籤是模型依 FER2013 標註方式的判讀，不代表這個人的感受" if zh else
              "A label is the model's reading as FER2013's annotators labelled such faces, not what the person feels")
    if synthetic:
        caveat += "；這個 CNN 只看過合成的臉，只用來示範流程" if zh else "; this CNN has seen only synthetic faces and shows the pipeline"
    sentences.append(caveat + ("。" if zh else "."))
    return _join(lang, *sentences)
