"""Training: the tf.data pipeline, augmentation, the schedule and callbacks, and the fit of one run.

``train()`` trains the run that a config and the data define, or reuses it: the run directory is named by
``fer_utils.identity`` (data content, resolved config, model architecture, training-code version), so a change
to any of them trains a new run instead of reusing old weights. What a run directory holds is described in
``fer_utils.runs``. One process trains a run at a time (``runs.lock``); an interrupted run, by Ctrl-C or a
kill at any moment, resumes exactly from its last finished epoch (``callbacks.RunState``): the same weights,
optimizer state, best-so-far, schedule, early-stopping count, data order and augmentation as if it had
never stopped.
"""

import dataclasses
import re
import shutil
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fer_utils import (CLASS_NAMES, NUM_CLASSES, atomic, augment, averaging, callbacks, data, errors, evaluate,
                       identity, models, paths, precision, provenance, runs, synth)

#: The training split's accuracy (for the train-test gap) is measured on a seeded sample of this many faces,
#: with the same test-time augmentation as the held-out splits.
TRAIN_EVAL_ROWS = 5000
#: The weight average's batch-norm statistics are recomputed on a seeded sample of this many training faces
#: (means over millions of activations: a larger sample changes them in the third digit and costs seconds).
BATCH_NORM_ROWS = 8192


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


def make_dataset(dataset, batch_size, *, training=False, config=None, skip_epochs=0):
    """A tf.data pipeline of (images, one-hot labels): cache, shuffle, batch, augment (CutMix), prefetch.

    The training pipeline is one endless stream of epochs (shuffled anew each epoch, then augmented)
    whose random streams run sequentially, so epoch e's order and augmentation depend on the seed and e
    alone: a run resumed at epoch e skips the first e epochs of the stream (augmenting them without
    training, which costs a small share of an epoch's time) and continues exactly as an uninterrupted run.

    Args:
        dataset: a labeled ``fer_utils.data.Dataset``.
        batch_size: batch size.
        training: shuffle each epoch, repeat, and augment when ``config.augment`` (then CutMix, whose labels
            are mixtures, when ``config.cutmix``).
        config: the run's Config (seed and augmentation strengths); required when training.
        skip_epochs: epochs of the training stream to skip (a resumed run's finished epochs).
    Returns:
        A ``tf.data.Dataset`` of ((B, 48, 48, 1) float32, (B, 7) float32); endless when training (use
        ``steps_per_epoch``).
    """
    images = dataset.x.astype(np.float32)  # (N, 48, 48, 1), raw 0-255: the model rescales
    labels = keras.utils.to_categorical(dataset.y, NUM_CLASSES).astype(np.float32)  # (N, 7)
    pipeline = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
    if training:
        pipeline = pipeline.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    pipeline = pipeline.batch(batch_size)
    if training:
        pipeline = pipeline.repeat()
        if config.augment:
            augmenting = augmenter(config)
            pipeline = pipeline.map(lambda x, y: (augmenting(x, training=True), y))
            if config.cutmix:
                mixing = augment.CutMix(config.cutmix, seed=config.seed + 2, name="cutmix")
                pipeline = pipeline.map(lambda x, y: mixing((x, y), training=True))
        pipeline = pipeline.skip(skip_epochs * steps_per_epoch(len(images), batch_size))
    return pipeline.prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(rows, batch_size):
    """Batches in one epoch of ``rows`` faces (the last one may be smaller)."""
    return int(np.ceil(rows / batch_size))


def load_data(data_path=None, progress=True):
    """Load the user's data, or the embedded synthetic set (written on first use).

    Args:
        data_path: a FER2013 file or folder; None or "" for the synthetic default.
        progress: show progress bars.
    Returns:
        A ``fer_utils.data.Dataset``.
    """
    if not data_path:
        if not _synthetic_written():
            # one writer at a time (parallel notebooks or tests); whoever waited finds it written
            lock_file = paths.SYNTHETIC_CSV.with_name(f".{paths.SYNTHETIC_CSV.name}.lock")
            with atomic.lock(lock_file, label="the synthetic face set"):
                if not _synthetic_written():
                    print(f"writing the embedded synthetic face set to {paths.SYNTHETIC_CSV}", file=sys.stderr)
                    synth.write_csv(paths.SYNTHETIC_CSV, progress=progress)
        data_path = paths.SYNTHETIC_CSV
    return data.load(data_path, progress=progress)


def _synthetic_written():
    """Whether the embedded synthetic set is in place (a file from before the origin sidecar does not count)."""
    return paths.SYNTHETIC_CSV.exists() and provenance.is_synthetic(provenance.data_origin(paths.SYNTHETIC_CSV))


def split_rows(config, dataset):
    """(train rows, val rows): the row indices of the config's train and validation parts of ``dataset``.

    Validation is a seeded, stratified share of the Training rows (``config.val_fraction``, ``split_seed``);
    train is the rest, subsampled to ``max_train_rows`` when set.

    Raises:
        fer_utils.data.DataError: no labeled Training rows, or all of one class (a rare or absent class is
        fine). fer_utils.errors.InputError: max_train_rows too small.
    """
    train_rows, val_rows = data.train_val_rows(dataset, val_fraction=config.val_fraction, seed=config.split_seed)
    # here, not in data.train_val_rows: splitting one class is sound (data.splits for a look at the data), only
    # training a classifier on it is not, and every run and chapter goes through this split before its directory
    classes = np.unique(dataset.y[(dataset.usage == "Training") & (dataset.y >= 0)])
    if len(classes) == 1:
        raise data.DataError(f"{dataset.source}: every labeled Training row is class {classes[0]} "
                             f"({CLASS_NAMES[classes[0]]}); a classifier needs at least two classes")
    if config.max_train_rows:
        try:
            kept = data.subsample_rows(dataset.subset(train_rows), config.max_train_rows, seed=config.split_seed)
        except ValueError as error:
            raise errors.InputError(f"max_train_rows={config.max_train_rows}: {error}") from None
        train_rows = train_rows[kept]
    return train_rows, val_rows


def evaluate_parts(model, parts, tta, seed=0, known=None):
    """Metrics per part, every part with the same test-time augmentation ``tta``.

    The training part is measured on a seeded sample of ``TRAIN_EVAL_ROWS`` faces (it is there for the
    train-test gap; ten-crop over all of it would cost minutes).

    Args:
        known: {part name: metrics} already measured for this model and ``tta`` (not measured again).
    Returns:
        {part name: ``evaluate.classification_metrics``}, in the order of ``parts``.
    """
    known = dict(known or {})
    sampled = {name: part for name, part in parts.items() if name not in known}
    if "train" in sampled and len(sampled["train"]) > TRAIN_EVAL_ROWS:
        sampled["train"] = data.subsample(sampled["train"], TRAIN_EVAL_ROWS, seed=seed)
    measured = {**evaluate.evaluate_splits(model, sampled, tta=tta), **known}
    return {name: measured[name] for name in parts if name in measured}


def train(config, data_path=None, *, dataset=None, model=None, runs_dir=None, force=False, progress=True,
          strategy=None, extra_callbacks=()):
    """Train (or reuse) the run that ``config`` and the data define.

    A finished run whose stored identity matches is reused without taking its lock or writing to it (a
    read-only runs folder of finished runs works); anything else is trained, resumed or rebuilt under the
    run's lock.

    The run's ``metrics.json`` holds ``splits`` ({part: ``evaluate.classification_metrics``}, every part with
    the run's test-time augmentation, train on a sample of ``TRAIN_EVAL_ROWS``), ``tta``, ``epochs_run``,
    ``best_epoch`` (1-based), ``stopped_by`` ("epochs", "early_stopping" or "time_budget"), ``train_seconds``,
    ``seconds_per_epoch``, ``train_images_per_second`` and ``device``.

    Args:
        config: a resolved ``fer_utils.config.Config``.
        data_path: the data to train on; None for the embedded synthetic set.
        dataset: an already loaded Dataset (takes the place of ``data_path``).
        model: a Keras model to train (its architecture; it is rebuilt with seeded weights in the run), e.g. the
            CNN a notebook wrote out; None for the preset ``config.model`` names. ``config.model`` names the
            run (the model's name, or "dnn" with ``match`` naming its CNN).
        runs_dir: parent of run directories (default ``paths.RUNS_DIR``).
        force: retrain even when a finished run exists.
        progress: show progress bars.
        strategy: a ``tf.distribute.Strategy``; default: ``distribution_strategy()``.
        extra_callbacks: more Keras callbacks, run after the built-in ones.
    Returns:
        A finished ``fer_utils.runs.Run``.
    Raises:
        fer_utils.errors.InputError: unusable data (e.g. unlabeled) or settings; checked before any
        directory is made.
    """
    dataset = dataset if dataset is not None else load_data(data_path, progress)
    architecture = _architecture_of(model, config)
    if config.ensemble > 1:
        return train_ensemble(config, dataset, model=model, runs_dir=runs_dir, force=force, progress=progress,
                              strategy=strategy, extra_callbacks=extra_callbacks)
    train_rows, val_rows = split_rows(config, dataset)  # input checks first: no directory for bad input
    expected = identity.run_identity(config, dataset, architecture)
    directory = Path(runs_dir or paths.RUNS_DIR) / identity.run_key(config, expected)
    if not force and runs.is_reusable(directory, expected):  # no lock, no write: a read-only runs folder works
        print(f"reusing finished run {directory}", file=sys.stderr)
        return runs.Run(directory)
    with runs.lock(directory):
        if force:
            runs.clear(directory)  # before the identity is written: a retrained run keeps it
        runs.write_json(directory / runs.IDENTITY_FILE, expected)  # first: the run is never taken for a stale one
        if architecture is not None:  # the model passed in, to judge the run by (runs.stale_reason)
            with paths.atomic_write(directory / identity.ARCHITECTURE_FILE, "w") as handle:
                handle.write(architecture)
        problem = runs.unfinished_reason(directory)
        if not problem and not force:
            print(f"reusing finished run {directory}", file=sys.stderr)
            return runs.Run(directory)
        if (directory / "metrics.json").exists():  # written last, yet the run is not whole: rebuild it
            print(f"{directory}: {problem}; rebuilding the run", file=sys.stderr)
            for name in ("metrics.json", "model.keras"):
                (directory / name).unlink(missing_ok=True)
        return _fit(config, dataset, (train_rows, val_rows), directory, progress=progress, strategy=strategy,
                    extra_callbacks=extra_callbacks, architecture=architecture)


def _architecture_of(model, config):
    """The Keras JSON of a model passed to ``train`` (None for none), after checking it can name a run.

    Raises:
        fer_utils.errors.InputError: a name that cannot be part of a folder name, or a model whose name is
            not ``config.model`` (a CNN) although the config names a preset.
    """
    if model is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", model.name):
        raise errors.InputError(f"model name {model.name!r}: use letters, digits and _ (it names the run's folder), "
                                "e.g. keras.Model(inputs, outputs, name=\"my_cnn\")")
    if config.model not in ("dnn", model.name):
        raise errors.InputError(f"model={config.model!r} but the model passed in is named {model.name!r}")
    return model.to_json()


def _fit(config, dataset, rows, directory, *, progress, strategy, extra_callbacks, architecture=None):
    """Train a locked run directory from scratch or from its last finished epoch; evaluate; write metrics last.

    Raises:
        fer_utils.errors.TrainingDiverged: the loss became NaN or infinite; the run stays unfinished, its state
        that of the last epoch before (``callbacks.DivergenceGuard``).
    """
    parts = data.parts_from_rows(dataset, *rows)
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    gpu = bool(tf.config.list_physical_devices("GPU"))
    compute = precision.policy(precision.resolve(config.precision), gpu, config.mixed_precision)
    keras.mixed_precision.set_global_policy(compute)
    strategy = strategy or distribution_strategy()
    state = callbacks.read_state(directory)
    epochs_done = state.get("epochs_done", 0)
    if epochs_done:
        print(f"resuming {directory.name} after epoch {epochs_done}", file=sys.stderr)

    with strategy.scope():
        model = identity.build_model(config, architecture)
        model.compile(
            optimizer=keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
        if state:
            model.optimizer.build(model.trainable_variables)  # its moments exist before they are loaded
            model.load_weights(directory / callbacks.BACKUP_DIR / state["weights"])
    steps = steps_per_epoch(len(parts["train"]), config.batch_size)
    train_data = make_dataset(parts["train"], config.batch_size, training=True, config=config, skip_epochs=epochs_done)
    val_data = make_dataset(parts["val"], config.batch_size)
    runs.write_split(directory, *rows)
    runs.write_json(directory / "config.json", {
        **config.to_dict(), "data_source": dataset.source, "data_form": dataset.form,
        "data_hash": dataset.content_hash, "data_origin": provenance.data_origin(dataset.source, dataset.content_hash),
        "parameters": model.count_params(), "flops_per_image": models.flops_per_image(model),
        "replicas": strategy.num_replicas_in_sync, "rows": {name: len(part) for name, part in parts.items()},
        "training_code_version": identity.TRAINING_CODE_VERSION,
    })

    budget = callbacks.TimeBudget(config.time_budget, elapsed=state.get("elapsed", 0.0))
    total_steps = config.epochs * steps
    schedule = callbacks.WarmupCosine(config.learning_rate, total_steps, min(int(config.warmup_epochs * steps),
                                      total_steps - 1), steps, budget if config.time_budget else None)
    run_state = callbacks.RunState(directory, config.patience, state, budget, schedule, config.average_tail)
    stopped_by = state.get("stopped_by")
    if not stopped_by:
        bar = callbacks.ProgressBar(config.epochs, steps, progress, budget)
        try:  # the guard before run_state: a NaN epoch is never committed (callbacks.DivergenceGuard)
            model.fit(train_data, validation_data=val_data, epochs=config.epochs, initial_epoch=epochs_done,
                      steps_per_epoch=steps, shuffle=False, verbose=0,  # the pipeline shuffles
                      callbacks=[schedule, budget, callbacks.DivergenceGuard(), run_state, bar, *extra_callbacks])
        except KeyboardInterrupt:
            done = callbacks.read_state(directory).get("epochs_done", 0)
            raise errors.Interrupted(f"interrupted after epoch {done} of at most {config.epochs}; run the same command "
                                   f"to resume ({directory})") from None
        except callbacks.Diverged as diverged:
            bar.on_train_end()  # close the bar before the one-line message
            raise errors.TrainingDiverged(
                f"training diverged: {diverged}; lower learning_rate (now {config.learning_rate:g}) or check the "
                f"data; the run was not saved as finished ({directory})") from None
        stopped_by = ("time_budget" if budget.triggered else "early_stopping" if run_state.early_stopped
                      else "epochs")
        callbacks.mark_stopped(directory, stopped_by)
    return _finish(config, parts, directory, stopped_by, gpu, progress)


def _finish(config, parts, directory, stopped_by, gpu, progress=True):
    """Write the final model, the history and the metrics of a trained run (metrics.json last), drop the backup.

    The final model is the best epoch's, or the weight average of the schedule's tail when the run kept one
    and it validates (with the run's TTA) at least as well. A run trained in mixed precision (bfloat16 on a CPU,
    float16 on a GPU) is evaluated and saved in float32 (``models.in_float32``).
    """
    state = callbacks.read_state(directory)
    backup = directory / callbacks.BACKUP_DIR
    history = pd.DataFrame(state["history"])
    with paths.atomic_write(directory / "history.csv", "w") as handle:
        history.to_csv(handle, index=False)
    with paths.atomic_write(directory / "history.json", "w") as handle:
        handle.write(history.to_json(orient="records", indent=1))
    best = keras.models.load_model(backup / state["best_model"], compile=False)
    best = models.in_float32(best)  # whatever policy _fit trained under: float32 from here on (evaluation,
    #                                 model.keras, the analyses' gradients); a float32 model is returned as it is
    average, known = None, {}
    if state.get("average"):
        best, average, known = _choose_average(best, parts, averaging.load(backup / state["average"]), config,
                                               progress)
        average["epochs"] = [epoch + 1 for epoch in state["averaged_epochs"]]
    callbacks.save_atomically(best.save, directory / "model.keras")
    epochs_run, seconds = len(history), max(state["elapsed"], 1e-9)
    metrics = {
        "splits": evaluate_parts(best, parts, config.tta, seed=config.split_seed, known=known),
        "tta": config.tta,
        "epochs_run": epochs_run,
        "best_epoch": state["best_epoch"] + 1,
        "stopped_by": stopped_by,
        "train_seconds": seconds,
        "seconds_per_epoch": seconds / max(epochs_run, 1),
        "train_images_per_second": epochs_run * len(parts["train"]) / seconds,
        "device": "GPU" if gpu else "CPU",
        "precision": keras.mixed_precision.global_policy().name,  # as _fit set it
        **({"weight_average": average} if average else {}),
    }
    runs.write_json(directory / "metrics.json", metrics)  # last: its presence marks the run finished
    shutil.rmtree(backup, ignore_errors=True)
    return runs.Run(directory)


def _choose_average(best, parts, mean, config, progress):
    """(the final model, what the weight average gave, {"val": the final model's validation metrics}).

    The average, its batch norm recomputed on ``BATCH_NORM_ROWS`` training faces, replaces ``best`` when its
    validation accuracy (with the run's TTA) is at least best's.
    """
    keras.utils.set_random_seed(config.seed)  # the clone's dropout seeds: a resumed run recomputes the same
    averaged = keras.models.clone_model(best)
    averaged.set_weights([np.asarray(array, dtype=np.float32) for array in mean])
    sample = data.subsample(parts["train"], BATCH_NORM_ROWS, seed=config.split_seed)
    averaging.recompute_batch_norm(averaged, sample.x, progress=progress)
    scores = {name: evaluate.evaluate_splits(model, {"val": parts["val"]}, tta=config.tta)["val"]
              for name, model in (("best_epoch", best), ("average", averaged))}
    used = scores["average"]["accuracy"] >= scores["best_epoch"]["accuracy"]
    print(f"weight average: validation {scores['average']['accuracy']:.4f} vs best epoch "
          f"{scores['best_epoch']['accuracy']:.4f} ({config.tta}); keeping the {'average' if used else 'best epoch'}",
          file=sys.stderr)
    average = {"val_accuracy": scores["average"]["accuracy"],
               "best_epoch_val_accuracy": scores["best_epoch"]["accuracy"], "used": used}
    return (averaged if used else best), average, {"val": scores["average" if used else "best_epoch"]}


def train_ensemble(config, dataset, *, model=None, runs_dir=None, force=False, progress=True, strategy=None,
                   extra_callbacks=()):
    """Train ``config.ensemble`` members (seeds seed, seed+1, ...; one shared validation split) and
    evaluate the average of their probabilities (Hansen & Salamon 1990; each member gets the full
    time budget).

    Args:
        model: the members' architecture (see ``train``), or None for the preset ``config.model`` names.
    Returns:
        The ensemble's ``fer_utils.runs.Run``: a directory with members.json, config.json and metrics.json.
    """
    runs_dir = Path(runs_dir or paths.RUNS_DIR)
    expected = identity.run_identity(config, dataset, _architecture_of(model, config))
    directory = runs_dir / identity.run_key(config, expected)
    if not force and runs.is_reusable(directory, expected):  # no lock, no write: a read-only runs folder works
        print(f"reusing finished run {directory}", file=sys.stderr)
        return runs.Run(directory)
    members = []
    for index in range(config.ensemble):
        member = dataclasses.replace(config, seed=config.seed + index, ensemble=1)
        print(f"ensemble member {index + 1}/{config.ensemble} (seed {member.seed})", file=sys.stderr)
        members.append(train(member, dataset=dataset, model=model, runs_dir=runs_dir, force=force,
                             progress=progress, strategy=strategy, extra_callbacks=extra_callbacks))
    with runs.lock(directory):
        (directory / "metrics.json").unlink(missing_ok=True)
        runs.write_json(directory / runs.IDENTITY_FILE, expected)
        runs.write_json(directory / "members.json", [member.directory.name for member in members])
        runs.write_json(directory / "config.json", {**members[0].config, **config.to_dict()})
        run = runs.Run(directory)
        member_metrics = [member.metrics for member in members]
        metrics = {
            "splits": evaluate_parts(run.load_model(), run.parts(dataset), config.tta, seed=config.split_seed),
            "tta": config.tta,
            "members": [{"run": member.directory.name, "val_accuracy": m["splits"]["val"]["accuracy"]}
                        for member, m in zip(members, member_metrics)],
            **{key: sum(m[key] for m in member_metrics) for key in ("epochs_run", "train_seconds")},
            **{key: member_metrics[0][key] for key in ("best_epoch", "stopped_by", "device")},
            "seconds_per_epoch": float(np.mean([m["seconds_per_epoch"] for m in member_metrics])),
            "train_images_per_second": float(np.mean([m["train_images_per_second"] for m in member_metrics])),
        }
        runs.write_json(directory / "metrics.json", metrics)  # last: marks the ensemble finished
    return run
