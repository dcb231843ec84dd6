"""Training: tf.data input, augmentation, callbacks, run directories keyed by a hash, reuse and resume.

A run directory ``runs/<model>-<profile>-<hash>/`` holds ``model.keras`` (best on validation),
``history.csv``/``history.json``, ``config.json`` and ``metrics.json``. ``train()`` returns the
finished run when its directory already has ``metrics.json``, so notebooks and re-runs reuse it;
an interrupted run resumes from ``backup/`` (Keras ``BackupAndRestore``).
"""

import dataclasses
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm import tqdm

from fer_utils import NUM_CLASSES, augment, data, evaluate, models, paths, synth
from fer_utils.config import Config


def configure_devices(logical_cpus=0):
    """Split the CPU into ``logical_cpus`` logical devices (to exercise multi-replica code on CPU).

    Must run before TensorFlow initialises its devices (before any op runs).

    Args:
        logical_cpus: number of logical CPU devices to create (0 or 1 leaves the CPU as it is).
    Raises:
        RuntimeError: TensorFlow was already initialised.
    """
    if logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(logical_cpus)]
        )


def distribution_strategy(devices=None):
    """MirroredStrategy over ``devices`` or over all GPUs when there are several, else the default.

    Args:
        devices: device names such as ``["/cpu:0", "/cpu:1"]``; None picks the GPUs.
    Returns:
        A ``tf.distribute.Strategy``.
    """
    if devices:
        return tf.distribute.MirroredStrategy(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def augmenter(config):
    """Random flip, rotation, shift and zoom in one resampling, then random erasing (seeded by the config).

    Returns:
        A ``keras.Sequential`` mapping (N, 48, 48, 1) raw-pixel float batches to augmented batches.
    """
    steps = [augment.RandomAffine(config.rotation, config.zoom, config.shift, flip=True, seed=config.seed,
                                  name="affine")]
    if config.erasing:
        steps.append(augment.RandomErasing(config.erasing, seed=config.seed + 1, name="erase"))
    return keras.Sequential(steps, name="augment")


def make_dataset(dataset, batch_size, *, training=False, config=None):
    """A tf.data pipeline of (images, one-hot labels): cache, shuffle, batch, augment, prefetch.

    Augmentation runs sequentially on whole batches so the random stream, and hence training, is
    deterministic under the seed on CPU.

    Args:
        dataset: a labeled ``fer_utils.data.Dataset``.
        batch_size: batch size.
        training: shuffle each epoch and augment when ``config.augment``.
        config: the run's Config (seed and augmentation strengths); required when training.
    Returns:
        A ``tf.data.Dataset`` of ((B, 48, 48, 1) float32, (B, 7) float32).
    """
    images = dataset.x.astype(np.float32)  # (N, 48, 48, 1), raw 0-255: the model rescales
    labels = keras.utils.to_categorical(dataset.y, NUM_CLASSES).astype(np.float32)  # (N, 7)
    pipeline = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
    if training:
        pipeline = pipeline.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    pipeline = pipeline.batch(batch_size)
    if training and config.augment:
        augment = augmenter(config)
        pipeline = pipeline.map(lambda x, y: (augment(x, training=True), y))
    return pipeline.prefetch(tf.data.AUTOTUNE)


class TimeBudget(keras.callbacks.Callback):
    """Stops training once ``minutes`` have passed; the epoch ends (with validation) and the best
    checkpoint so far is kept."""

    def __init__(self, minutes):
        super().__init__()
        self.seconds = minutes * 60.0
        self.triggered = False

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def elapsed_fraction(self):
        """Share of the budget used so far (0 without a budget)."""
        return (time.monotonic() - self.start) / self.seconds if self.seconds else 0.0

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds and self.elapsed_fraction() >= 1.0:
            self.model.stop_training = True
            self.triggered = True


class WarmupCosine(keras.callbacks.Callback):
    """Linear warm-up to ``peak``, then cosine decay to 0, set on the optimizer before every step.

    Progress is the larger of steps done / ``total_steps`` and, with a ``budget``, the share of the
    time budget used: a run that the budget will cut short still anneals to a low learning rate by
    the end instead of stopping at a high one (Loshchilov & Hutter 2017, https://arxiv.org/abs/1608.03983).
    Without a budget the schedule depends on the step only, so runs stay deterministic.

    Args:
        peak: learning rate after warm-up.
        total_steps: steps of the whole schedule (epochs x steps per epoch).
        warmup_steps: steps of the linear warm-up.
        steps_per_epoch: to find the step when a run resumes at a later epoch.
        budget: a ``TimeBudget`` (or None).
    """

    def __init__(self, peak, total_steps, warmup_steps, steps_per_epoch, budget=None):
        super().__init__()
        self.peak, self.total_steps, self.warmup_steps = peak, total_steps, warmup_steps
        self.steps_per_epoch, self.budget = steps_per_epoch, budget
        self.step = 0

    def rate(self, step, time_fraction=0.0):
        """The learning rate at ``step`` when ``time_fraction`` of the budget is used."""
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = min(max((step - self.warmup_steps) / decay_steps, time_fraction), 1.0)
        return self.peak * 0.5 * (1.0 + np.cos(np.pi * progress))

    def on_epoch_begin(self, epoch, logs=None):
        self.step = epoch * self.steps_per_epoch

    def on_train_batch_begin(self, batch, logs=None):
        time_fraction = self.budget.elapsed_fraction() if self.budget is not None else 0.0
        self.model.optimizer.learning_rate.assign(self.rate(self.step, time_fraction))
        self.step += 1


class ProgressBar(keras.callbacks.Callback):
    """One tqdm bar over all training steps, with the last epoch's metrics as its postfix.

    With a time budget the bar counts the budget's seconds instead (the budget, not the epoch cap,
    decides when such a run ends, so a step count would promise the wrong finishing time).
    """

    def __init__(self, epochs, steps_per_epoch, enabled=True, budget_minutes=0.0):
        super().__init__()
        self.epochs, self.steps_per_epoch, self.enabled = epochs, steps_per_epoch, enabled
        self.budget_seconds = budget_minutes * 60.0

    def on_train_begin(self, logs=None):
        total, unit = (self.budget_seconds, "s") if self.budget_seconds else (self.epochs * self.steps_per_epoch, "batch")
        self.bar = tqdm(total=total, unit=unit, disable=not self.enabled, desc="training", file=sys.stderr,
                        mininterval=2.0, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of the budget [{elapsed}<{remaining}{postfix}]"
                        if self.budget_seconds else None)
        self.start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        if not self.budget_seconds:
            self.bar.n = epoch * self.steps_per_epoch  # resumed runs start mid-way
        self.bar.set_description(f"epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        if self.budget_seconds:
            self.bar.update(min(time.monotonic() - self.start, self.budget_seconds) - self.bar.n)
        else:
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({key: f"{value:.3f}" for key, value in logs.items()
                              if key in ("loss", "accuracy", "val_loss", "val_accuracy")})

    def on_train_end(self, logs=None):
        self.bar.close()


@dataclasses.dataclass
class Run:
    """A finished training run on disk: one model, or an ensemble whose ``members.json`` lists its runs."""

    directory: Path

    @property
    def config(self):
        return json.loads((self.directory / "config.json").read_text())

    @property
    def metrics(self):
        return json.loads((self.directory / "metrics.json").read_text())

    @property
    def members(self):
        """The member runs of an ensemble ([] for a single model)."""
        listing = self.directory / "members.json"
        if not listing.exists():
            return []
        return [Run(self.directory.parent / name) for name in json.loads(listing.read_text())]

    @property
    def history(self):
        """Per-epoch metrics (an ensemble's: its first member's)."""
        members = self.members
        return members[0].history if members else pd.read_csv(self.directory / "history.csv")

    @property
    def tta(self):
        """The test-time augmentation the run's config asks for ("none" for runs made before it existed)."""
        return self.config.get("tta", "none")

    def load_model(self):
        """The best model of the run, or the ensemble of its members (inference only, not compiled)."""
        members = self.members
        if members:
            return ensemble_model([member.load_model() for member in members])
        return keras.models.load_model(self.directory / "model.keras", compile=False)

    def predict_probabilities(self, x, tta=None):
        """(N, 7) probabilities for raw-pixel faces, with the run's test-time augmentation unless ``tta`` is given."""
        return evaluate.predict_probabilities(self.load_model(), x, tta=tta or self.tta)


def ensemble_model(members):
    """One Keras model that averages the class probabilities of ``members`` (same input, 48x48x1).

    Args:
        members: Keras models ending in softmax probabilities.
    Returns:
        A ``keras.Model`` named ``ensemble`` whose output is the mean of the members' outputs.
    """
    inputs = keras.Input(models.INPUT_SHAPE, name="pixels")
    outputs = []
    for index, member in enumerate(members):
        wrapped = keras.Model(member.input, member.output, name=f"member{index}")
        outputs.append(wrapped(inputs))
    averaged = keras.layers.Average(name="probabilities")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, averaged, name="ensemble")


def load_run(directory):
    """Open a finished run (or ensemble) directory.

    Raises:
        FileNotFoundError: the directory or its metrics.json/model.keras is missing.
    """
    directory = paths.resolve(directory)
    weights = "members.json" if (directory / "members.json").exists() else "model.keras"
    for name in ("metrics.json", weights, "config.json"):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory}: not a finished run (no {name}); train it with `fer-workbook train`")
    return Run(directory)


def run_key(config, dataset):
    """The run-directory name: model, profile and a hash of (data content, resolved config, seed)."""
    identity = {"data": dataset.content_hash, "config": config.to_dict()}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    model_name = f"dnn_{config.match}" if config.model == "dnn" else config.model
    return f"{model_name}-{config.profile}-{digest}"


def load_data(data_path=None, progress=True):
    """Load the user's data, or the embedded synthetic set (written on first use).

    Args:
        data_path: a FER2013 file or folder; None for the synthetic default.
        progress: show progress bars.
    Returns:
        A ``fer_utils.data.Dataset``.
    """
    if data_path is None:
        if not paths.SYNTHETIC_CSV.exists():
            print(f"writing the embedded synthetic face set to {paths.SYNTHETIC_CSV}", file=sys.stderr)
            synth.write_csv(paths.SYNTHETIC_CSV, progress=progress)
        data_path = paths.SYNTHETIC_CSV
    return data.load(data_path, progress=progress)


def build_model(config):
    """The model a config names (a DNN matched to ``config.match`` when model is "dnn")."""
    if config.model == "dnn":
        if not config.match:
            raise ValueError("model=dnn needs match=<preset>, the CNN whose parameter count it matches")
        return models.dnn_matching(models.build(config.match))
    return models.build(config.model)


def prepare(config, dataset):
    """Split a dataset as the config says: {"train", "val", and any test usages}."""
    parts = data.splits(dataset, val_fraction=config.val_fraction, seed=config.split_seed)
    if config.max_train_rows:
        parts["train"] = data.subsample(parts["train"], config.max_train_rows, seed=config.split_seed)
    return parts


def train(config, data_path=None, *, dataset=None, runs_dir=None, force=False, progress=True, strategy=None,
          callbacks=()):
    """Train (or reuse) the run that ``config`` and the data define.

    Args:
        config: a resolved ``fer_utils.config.Config``.
        data_path: the data to train on; None for the embedded synthetic set.
        dataset: an already loaded Dataset (takes the place of ``data_path``).
        runs_dir: parent of run directories (default ``paths.RUNS_DIR``).
        force: retrain even when a finished run exists.
        progress: show progress bars.
        strategy: a ``tf.distribute.Strategy``; default: ``distribution_strategy()``.
        callbacks: extra Keras callbacks, run after the built-in ones.
    Returns:
        A finished ``Run``.
    Raises:
        fer_utils.data.DataError: unusable data (e.g. unlabeled).
    """
    dataset = dataset if dataset is not None else load_data(data_path, progress)
    if config.ensemble > 1:
        return train_ensemble(config, dataset, runs_dir=runs_dir, force=force, progress=progress, strategy=strategy,
                              callbacks=callbacks)
    directory = Path(runs_dir or paths.RUNS_DIR) / run_key(config, dataset)
    if (directory / "metrics.json").exists() and not force:
        print(f"reusing finished run {directory}", file=sys.stderr)
        return load_run(directory)
    if force and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    gpu = bool(tf.config.list_physical_devices("GPU"))
    keras.mixed_precision.set_global_policy("mixed_float16" if gpu and config.mixed_precision else "float32")
    strategy = strategy or distribution_strategy()

    parts = prepare(config, dataset)
    train_data = make_dataset(parts["train"], config.batch_size, training=True, config=config)
    val_data = make_dataset(parts["val"], config.batch_size)
    steps_per_epoch = int(np.ceil(len(parts["train"]) / config.batch_size))

    with strategy.scope():
        model = build_model(config)
        model.compile(
            optimizer=keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
    (directory / "config.json").write_text(json.dumps({
        **config.to_dict(), "data_source": dataset.source, "data_form": dataset.form,
        "data_hash": dataset.content_hash, "parameters": model.count_params(),
        "flops_per_image": models.flops_per_image(model), "replicas": strategy.num_replicas_in_sync,
        "rows": {name: len(part) for name, part in parts.items()},
    }, indent=2))

    budget = TimeBudget(config.time_budget)
    total_steps = config.epochs * steps_per_epoch
    schedule = WarmupCosine(config.learning_rate, total_steps, min(int(config.warmup_epochs * steps_per_epoch),
                            total_steps - 1), steps_per_epoch, budget if config.time_budget else None)
    early_stopping = keras.callbacks.EarlyStopping("val_accuracy", patience=config.patience, mode="max")
    all_callbacks = [
        keras.callbacks.BackupAndRestore(str(directory / "backup")),
        keras.callbacks.ModelCheckpoint(str(directory / "model.keras"), monitor="val_accuracy", mode="max",
                                        save_best_only=True),
        keras.callbacks.CSVLogger(str(directory / "history.csv"), append=True),
        schedule, early_stopping, budget, ProgressBar(config.epochs, steps_per_epoch, progress, config.time_budget),
        *callbacks,
    ]
    history_file = directory / "history.csv"
    epochs_before = len(pd.read_csv(history_file)) if history_file.exists() else 0  # resumed run
    start = time.monotonic()
    model.fit(train_data, validation_data=val_data, epochs=config.epochs, callbacks=all_callbacks,
              shuffle=False, verbose=0)  # the pipeline shuffles
    seconds = time.monotonic() - start

    history = pd.read_csv(history_file).drop_duplicates("epoch", keep="last")
    history.to_csv(history_file, index=False)
    (directory / "history.json").write_text(history.to_json(orient="records", indent=1))
    best = keras.models.load_model(directory / "model.keras", compile=False)
    epochs_run = len(history)
    epochs_now = max(epochs_run - epochs_before, 1)
    stopped_by = "time_budget" if budget.triggered else "early_stopping" if early_stopping.stopped_epoch else "epochs"
    metrics = {
        "splits": _evaluate(best, parts, config.tta),
        "tta": config.tta,
        "epochs_run": epochs_run,
        "best_epoch": int(history["val_accuracy"].idxmax()) + 1,
        "stopped_by": stopped_by,
        "train_seconds": seconds,
        "seconds_per_epoch": seconds / epochs_now,
        "train_images_per_second": epochs_now * len(parts["train"]) / seconds,
        "device": "GPU" if gpu else "CPU",
    }
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return Run(directory)


def _evaluate(model, parts, tta):
    """Metrics per split: the held-out splits with the run's test-time augmentation, the training
    split (there only to show the train/test gap, and ten times bigger) without it."""
    results = evaluate.evaluate_splits(model, {"train": parts["train"]}, tta="none")
    results.update(evaluate.evaluate_splits(model, {k: v for k, v in parts.items() if k != "train"}, tta=tta))
    return results


def train_ensemble(config, dataset, *, runs_dir=None, force=False, progress=True, strategy=None, callbacks=()):
    """Train ``config.ensemble`` members (seeds seed, seed+1, ...; one shared validation split) and
    evaluate the average of their probabilities (Hansen & Salamon 1990; each member gets the full
    time budget).

    Returns:
        The ensemble's ``Run``: a directory with members.json, config.json and metrics.json.
    """
    runs_dir = Path(runs_dir or paths.RUNS_DIR)
    members = []
    for index in range(config.ensemble):
        member = dataclasses.replace(config, seed=config.seed + index, ensemble=1)
        print(f"ensemble member {index + 1}/{config.ensemble} (seed {member.seed})", file=sys.stderr)
        members.append(train(member, dataset=dataset, runs_dir=runs_dir, force=force, progress=progress,
                             strategy=strategy, callbacks=callbacks))
    directory = runs_dir / f"ensemble{config.ensemble}-{run_key(config, dataset)}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "members.json").write_text(json.dumps([member.directory.name for member in members], indent=1))
    (directory / "config.json").write_text(json.dumps({**members[0].config, **config.to_dict()}, indent=2))
    run = Run(directory)
    parts = prepare(config, dataset)
    member_metrics = [member.metrics for member in members]
    metrics = {
        "splits": _evaluate(run.load_model(), parts, config.tta),
        "tta": config.tta,
        "members": [{"run": member.directory.name, "val_accuracy": m["splits"]["val"]["accuracy"]}
                    for member, m in zip(members, member_metrics)],
        **{key: sum(m[key] for m in member_metrics) for key in ("epochs_run", "train_seconds")},
        **{key: member_metrics[0][key] for key in ("best_epoch", "stopped_by", "device")},
        "seconds_per_epoch": float(np.mean([m["seconds_per_epoch"] for m in member_metrics])),
        "train_images_per_second": float(np.mean([m["train_images_per_second"] for m in member_metrics])),
    }
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return run


@dataclasses.dataclass
class Chapter:
    """What a report chapter works with: the resolved config, the data, its splits and the finished run."""

    config: Config
    dataset: "data.Dataset"
    parts: dict
    run: Run


def workbook_run(profile="quick", data_path="", model="", seed=0, dnn=False, progress=True):
    """The run a report chapter needs: Q1 trains the CNN (Q3-Q5 reuse it), Q2 the matched DNN.

    Args:
        profile: a profile name (quick, cpu, full).
        data_path: the data ("" for the embedded synthetic set).
        model: a CNN preset ("" for the profile's own).
        seed: seeds the split and the training.
        dnn: the DNN whose parameter count matches that CNN instead.
        progress: show progress bars.
    Returns:
        A ``Chapter`` (config, dataset, the splits the run used, run).
    """
    from fer_utils import config as config_module

    config = config_module.resolve(profile, seed=seed, split_seed=seed, **({"model": model} if model else {}))
    if dnn:
        config = dataclasses.replace(config, model="dnn", match=config.model)
    dataset = load_data(data_path or None, progress)
    run = train(config, dataset=dataset, progress=progress)
    return Chapter(config, dataset, prepare(config, dataset), run)


def describe_config(config):
    """A sentence with the training settings of a config."""
    rows = f"{config.max_train_rows:,} training faces (a stratified subsample)" if config.max_train_rows else "all training faces"
    kinds = ["flips"] + [f"{name} up to {text}" for name, value, text in (
        ("rotations", config.rotation, f"{config.rotation * 360:g}°"), ("shifts", config.shift, f"{config.shift:.0%}"),
        ("zooms", config.zoom, f"{config.zoom:.0%}")) if value]
    if config.augment and config.erasing:
        kinds.append(f"random erasing of {config.erasing:.0%} of the faces")
    augmentation = (", ".join(kinds[:-1]) + " and " + kinds[-1] if len(kinds) > 1 else kinds[0]) if config.augment \
        else "no augmentation"
    budget = (f", a {config.time_budget:g}-minute budget that the cosine schedule fits into" if config.time_budget
              else "")
    tta = {"none": "no test-time augmentation", "flip": "predictions averaged with the mirrored face",
           "ten_crop": "predictions averaged over ten crops (five shifted windows and their mirrors)"}[config.tta]
    ensemble = f"; an ensemble of {config.ensemble} seeds" if config.ensemble > 1 else ""
    return (f"Profile `{config.profile}`: {rows}, batch {config.batch_size}, at most {config.epochs} epochs"
            f" (early stopping after {config.patience} without a better validation accuracy{budget}); AdamW at peak "
            f"learning rate {config.learning_rate:g}, weight decay {config.weight_decay:g}, warm-up "
            f"{config.warmup_epochs:g} epochs, then cosine decay; label smoothing {config.label_smoothing:g}; "
            f"{augmentation}; {tta}{ensemble}.")


def describe_training(run):
    """A sentence with how a run's training went: epochs, best epoch, why it stopped, time and speed."""
    metrics = run.metrics
    reason = {"epochs": "it reached its last epoch", "early_stopping": "validation accuracy stopped improving",
              "time_budget": "its time budget ran out"}[metrics["stopped_by"]]
    best = metrics["splits"].get("val", {}).get("accuracy")
    best_text = f" with validation accuracy {best:.1%}" if best is not None else ""
    return (f"Training ran {metrics['epochs_run']} epochs and stopped because {reason}; the best epoch was "
            f"{metrics['best_epoch']}{best_text}. It took {metrics['train_seconds']:.0f} s on the {metrics['device']} "
            f"({metrics['seconds_per_epoch']:.1f} s per epoch, {metrics['train_images_per_second']:.0f} images/s).")


def compare_runs(runs):
    """A side-by-side table of runs: parameters, train/val/test accuracy, macro-F1, epochs, time per epoch.

    Args:
        runs: {label: Run}.
    Returns:
        A pandas DataFrame with one column per run.
    """
    columns = {}
    for label, run in runs.items():
        metrics, settings = run.metrics, run.config
        splits = metrics["splits"]
        tests = [name for name in ("PublicTest", "PrivateTest", "Test") if name in splits]
        column = {"parameters": settings["parameters"], "train accuracy": splits["train"]["accuracy"],
                  "validation accuracy": splits["val"]["accuracy"]}
        for name in tests:
            column[f"{name} accuracy"] = splits[name]["accuracy"]
            column[f"{name} macro-F1"] = splits[name]["macro_f1"]
        column.update({"epochs": metrics["epochs_run"], "seconds per epoch": metrics["seconds_per_epoch"]})
        columns[label] = column
    return pd.DataFrame(columns)


def describe_comparison(table):
    """Sentences comparing two runs of ``compare_runs`` (first column against second)."""
    first, second = table.columns[:2]
    test_rows = [row for row in table.index if row.endswith("accuracy") and row.split()[0] not in ("train", "validation")]
    row = test_rows[-1] if test_rows else "validation accuracy"
    a, b = table.loc[row, first], table.loc[row, second]
    gap_a = table.loc["train accuracy", first] - a
    gap_b = table.loc["train accuracy", second] - b
    return (f"On {row.replace(' accuracy', '')} the {first} reaches {a:.1%} and the {second} {b:.1%}, "
            f"{(a - b) * 100:+.1f} points for the {first} with {table.loc['parameters', first] / table.loc['parameters', second]:.3f}x "
            f"the parameters. The gap between training and test accuracy is {gap_a * 100:.1f} points for the {first} "
            f"and {gap_b * 100:.1f} for the {second}; an epoch takes {table.loc['seconds per epoch', first]:.1f} s "
            f"against {table.loc['seconds per epoch', second]:.1f} s.")
