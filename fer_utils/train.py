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
from tqdm.auto import tqdm

from fer_utils import NUM_CLASSES, data, evaluate, models, paths, synth
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
    """Random flip, rotation, shift and zoom as Keras preprocessing layers (seeded by the config).

    Returns:
        A ``keras.Sequential`` mapping (N, 48, 48, 1) float batches to augmented batches.
    """
    seed = config.seed
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed, name="flip"),
        keras.layers.RandomRotation(config.rotation, fill_mode="reflect", seed=seed + 1, name="rotate"),
        keras.layers.RandomTranslation(config.shift, config.shift, fill_mode="reflect", seed=seed + 2, name="shift"),
        keras.layers.RandomZoom(config.zoom, config.zoom, fill_mode="reflect", seed=seed + 3, name="zoom"),
    ], name="augment")


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

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds and time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True
            self.triggered = True


class ProgressBar(keras.callbacks.Callback):
    """One tqdm bar over all training steps, with the last epoch's metrics as its postfix."""

    def __init__(self, epochs, steps_per_epoch, enabled=True):
        super().__init__()
        self.epochs, self.steps_per_epoch, self.enabled = epochs, steps_per_epoch, enabled

    def on_train_begin(self, logs=None):
        self.bar = tqdm(total=self.epochs * self.steps_per_epoch, unit="batch", disable=not self.enabled,
                        desc="training", file=sys.stderr, mininterval=2.0, dynamic_ncols=True)

    def on_epoch_begin(self, epoch, logs=None):
        self.bar.n = epoch * self.steps_per_epoch  # resumed runs start mid-way
        self.bar.set_description(f"epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({key: f"{value:.3f}" for key, value in logs.items()
                              if key in ("loss", "accuracy", "val_loss", "val_accuracy")})

    def on_train_end(self, logs=None):
        self.bar.close()


@dataclasses.dataclass
class Run:
    """A finished training run on disk."""

    directory: Path

    @property
    def config(self):
        return json.loads((self.directory / "config.json").read_text())

    @property
    def metrics(self):
        return json.loads((self.directory / "metrics.json").read_text())

    @property
    def history(self):
        return pd.read_csv(self.directory / "history.csv")

    def load_model(self):
        """The best model of the run (compiled state is not needed for inference)."""
        return keras.models.load_model(self.directory / "model.keras", compile=False)


def load_run(directory):
    """Open a finished run directory.

    Raises:
        FileNotFoundError: the directory or its metrics.json/model.keras is missing.
    """
    directory = paths.resolve(directory)
    for name in ("metrics.json", "model.keras", "config.json"):
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
    parts = data.splits(dataset, val_fraction=config.val_fraction, seed=config.seed)
    if config.max_train_rows:
        parts["train"] = data.subsample(parts["train"], config.max_train_rows, seed=config.seed)
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
        total_steps = config.epochs * steps_per_epoch
        warmup_steps = min(int(config.warmup_epochs * steps_per_epoch), total_steps - 1)
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0, decay_steps=total_steps - warmup_steps,
            warmup_target=config.learning_rate, warmup_steps=warmup_steps,
        )
        model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
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
    early_stopping = keras.callbacks.EarlyStopping("val_accuracy", patience=config.patience, mode="max")
    all_callbacks = [
        keras.callbacks.BackupAndRestore(str(directory / "backup")),
        keras.callbacks.ModelCheckpoint(str(directory / "model.keras"), monitor="val_accuracy", mode="max",
                                        save_best_only=True),
        keras.callbacks.CSVLogger(str(directory / "history.csv"), append=True),
        early_stopping, budget, ProgressBar(config.epochs, steps_per_epoch, progress), *callbacks,
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
        "splits": evaluate.evaluate_splits(best, parts),
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
