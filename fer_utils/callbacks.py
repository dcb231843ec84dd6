"""Training callbacks: the time budget, the learning-rate schedule, the divergence guard, the progress bar and the
run's checkpoints.

``RunState`` is the one callback that writes a run's files while it trains. At the end of every epoch it
saves, each file atomically and in this order: the best model so far (when the epoch improved on it), the
weights and optimizer state of the epoch, the running weight average (once epochs end in the averaged tail of
the schedule, ``fer_utils.averaging``), then ``backup/state.json``, which names them and holds the history,
the best epoch and the early-stopping count. ``state.json`` is the commit point: a run killed at any moment
resumes from the last epoch it names, with the same best-so-far, average, schedule, early-stopping state and (through
``train.make_dataset``) the same data order and augmentation, so it ends with the weights an uninterrupted
run would have had.
"""

import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from fer_utils import averaging, paths

#: The clock of the time budget (tests replace it with a fake one to train "for an hour" in a second).
clock = time.monotonic

BACKUP_DIR = "backup"
STATE_FILE = "state.json"
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


class TimeBudget(keras.callbacks.Callback):
    """Stops training once ``minutes`` have passed (counting ``elapsed`` seconds of earlier sessions of a
    resumed run); the epoch ends (with validation) and the best checkpoint so far is kept."""

    def __init__(self, minutes, elapsed=0.0):
        super().__init__()
        self.seconds = minutes * 60.0
        self.elapsed_before = elapsed
        self.triggered = False
        self.start = clock()

    def on_train_begin(self, logs=None):
        self.start = clock()

    def elapsed(self):
        """Seconds of training so far, earlier sessions included."""
        return self.elapsed_before + clock() - self.start

    def elapsed_fraction(self):
        """Share of the budget used so far (0 without a budget)."""
        return self.elapsed() / self.seconds if self.seconds else 0.0

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
        self.progress = 0.0  # of the last step set: 0 before and through warm-up, 1 at the end of the cosine

    def decay_progress(self, step, time_fraction=0.0):
        """How far the cosine decay is at ``step`` when ``time_fraction`` of the budget is used (0-1)."""
        if step < self.warmup_steps:
            return 0.0
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        return min(max((step - self.warmup_steps) / decay_steps, time_fraction), 1.0)

    def rate(self, step, time_fraction=0.0):
        """The learning rate at ``step`` when ``time_fraction`` of the budget is used."""
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        return self.peak * 0.5 * (1.0 + np.cos(np.pi * self.decay_progress(step, time_fraction)))

    def on_epoch_begin(self, epoch, logs=None):
        self.step = epoch * self.steps_per_epoch

    def on_train_batch_begin(self, batch, logs=None):
        time_fraction = self.budget.elapsed_fraction() if self.budget is not None else 0.0
        self.progress = self.decay_progress(self.step, time_fraction)
        self.model.optimizer.learning_rate.assign(self.rate(self.step, time_fraction))
        self.step += 1


class Diverged(ArithmeticError):
    """Raised by ``DivergenceGuard``: ``what`` ("the loss" or "the validation loss") became ``value`` (NaN or
    infinite) in ``epoch`` (0-based), in its batch ``batch`` (0-based; None when found at the epoch's end)."""

    def __init__(self, what, value, epoch, batch=None):
        where = f"epoch {epoch + 1}" + (f" (batch {batch + 1})" if batch is not None else "")
        super().__init__(f"{what} became {value} in {where}")
        self.what, self.value, self.epoch, self.batch = what, value, epoch, batch


class DivergenceGuard(keras.callbacks.Callback):
    """Ends training by raising ``Diverged`` as soon as the training loss of a batch, or the validation loss of an
    epoch, is NaN or infinite (the idea of ``keras.callbacks.TerminateOnNaN``, which stops only after the epoch).

    Put it before ``RunState``: raised there, the bad epoch never reaches ``RunState.on_epoch_end``, so its
    weights are neither committed to ``state.json`` nor taken as the best, and a resume starts from the last
    good epoch. (The loss a batch reports is the epoch's running mean: once one batch is NaN it stays NaN.)
    """

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            raise Diverged("the loss", float(loss), self.epoch, batch)

    def on_epoch_end(self, epoch, logs=None):
        for key, what in (("loss", "the loss"), ("val_loss", "the validation loss")):
            value = (logs or {}).get(key)
            if value is not None and not np.isfinite(value):
                raise Diverged(what, float(value), epoch)


class ProgressBar(keras.callbacks.Callback):
    """One tqdm bar over all training steps, with the last epoch's metrics as its postfix.

    With a time budget the bar counts the budget's seconds instead (the budget, not the epoch cap,
    decides when such a run ends, so a step count would promise the wrong finishing time).
    """

    def __init__(self, epochs, steps_per_epoch, enabled=True, budget=None):
        super().__init__()
        self.epochs, self.steps_per_epoch, self.enabled = epochs, steps_per_epoch, enabled
        self.budget = budget if budget is not None and budget.seconds else None

    def on_train_begin(self, logs=None):
        budgeted = self.budget is not None
        total, unit = (self.budget.seconds, "s") if budgeted else (self.epochs * self.steps_per_epoch, "batch")
        self.bar = tqdm(total=total, unit=unit, disable=not self.enabled, desc="training", file=sys.stderr,
                        mininterval=2.0, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of the budget [{elapsed}<{remaining}{postfix}]"
                        if budgeted else None)

    def on_epoch_begin(self, epoch, logs=None):
        if self.budget is None:
            self.bar.n = epoch * self.steps_per_epoch  # resumed runs start mid-way
        self.bar.set_description(f"epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        if self.budget is not None:
            self.bar.update(min(self.budget.elapsed(), self.budget.seconds) - self.bar.n)
        else:
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({key: f"{value:.3f}" for key, value in logs.items()
                              if key in ("loss", "accuracy", "val_loss", "val_accuracy")})

    def on_train_end(self, logs=None):
        self.bar.close()


def read_state(directory):
    """The committed training state of a run directory ({} when it has none or it is unreadable).

    Returns:
        {"epochs_done", "history" (one dict per epoch), "best_epoch" (0-based, or -1), "best_val_accuracy",
         "wait" (epochs since the best), "elapsed" (seconds trained), "weights", "best_model" and "average"
         (file names in backup/; "average" None until an epoch ends in the averaged tail), "averaged_epochs"
         (0-based)}; {} when the run has not finished an epoch.
    """
    path = Path(directory) / BACKUP_DIR / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    backup = path.parent
    if not (backup / state.get("weights", "?")).exists():
        return {}
    for name in ("best_model", "average"):
        if state.get(name) and not (backup / state[name]).exists():
            return {}
    return state


class RunState(keras.callbacks.Callback):
    """Best-model checkpoint, early stopping, history, the weight average and the resumable backup of a run.

    Args:
        directory: the run directory (files go to ``directory/backup``).
        patience: stop after this many epochs without a better ``val_accuracy`` (an epoch whose validation loss
            or accuracy is NaN or infinite is never the better one).
        state: the state to resume from (``read_state``), or {} for a new run.
        budget: the run's ``TimeBudget`` (its elapsed seconds are saved with each epoch).
        schedule: the run's ``WarmupCosine`` (where its decay is when an epoch ends), with ``average_tail``.
        average_tail: average the weights of the epochs that end in this last share of the cosine decay
            (``fer_utils.averaging``; 0 = no average).
    """

    def __init__(self, directory, patience, state=None, budget=None, schedule=None, average_tail=0.0):
        super().__init__()
        self.backup = Path(directory) / BACKUP_DIR
        self.patience, self.budget = patience, budget
        self.schedule, self.average_tail = schedule, average_tail
        state = dict(state or {})
        self.history = list(state.get("history", []))
        self.best_epoch = state.get("best_epoch", -1)
        self.best = state.get("best_val_accuracy", -np.inf)
        self.wait = state.get("wait", 0)
        self.weights = state.get("weights")
        self.best_model = state.get("best_model")
        self.average = state.get("average")  # file of the running mean in backup/, or None
        self.averaged_epochs = list(state.get("averaged_epochs", []))
        self.mean = None  # the running mean in memory (read from self.average when resuming)
        self.early_stopped = False

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        row = {"epoch": epoch, **{key: float(logs[key]) for key in HISTORY_KEYS if key in logs}}
        if "learning_rate" not in row:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.history.append(row)
        self.backup.mkdir(parents=True, exist_ok=True)
        previous = {self.weights, self.best_model, self.average}
        finite = all(np.isfinite(row.get(key, 0.0)) for key in ("val_loss", "val_accuracy"))
        if finite and row["val_accuracy"] > self.best:  # NaN weights can still score a finite accuracy
            self.best, self.best_epoch, self.wait = row["val_accuracy"], epoch, 0
            self.best_model = f"best-epoch{epoch + 1}.keras"
            save_atomically(self.model.save, self.backup / self.best_model)
        else:
            self.wait += 1
        self.weights = f"epoch{epoch + 1}.weights.h5"
        save_atomically(self.model.save_weights, self.backup / self.weights)
        if self.schedule is not None and averaging.in_tail(self.schedule.progress, self.average_tail):
            if self.mean is None and self.average:
                self.mean = averaging.load(self.backup / self.average)
            self.mean = averaging.update(self.mean, len(self.averaged_epochs), self.model.get_weights())
            self.average, self.averaged_epochs = f"average-epoch{epoch + 1}.npz", self.averaged_epochs + [epoch]
            averaging.save(self.backup / self.average, self.mean)
        state = {"epochs_done": epoch + 1, "history": self.history, "best_epoch": self.best_epoch,
                 "best_val_accuracy": self.best, "wait": self.wait, "weights": self.weights,
                 "best_model": self.best_model, "average": self.average, "averaged_epochs": self.averaged_epochs,
                 "elapsed": self.budget.elapsed() if self.budget else 0.0}
        with paths.atomic_write(self.backup / STATE_FILE, "w") as handle:
            handle.write(json.dumps(state, indent=1))
        for name in previous - {self.weights, self.best_model, self.average, None}:  # superseded by the state
            (self.backup / name).unlink(missing_ok=True)
        if self.wait >= self.patience:
            self.model.stop_training = True
            self.early_stopped = True


def save_atomically(save, path):
    """Call a Keras ``save(filepath)`` on a temporary name in the same folder, then rename it into place."""
    path = Path(path)
    suffix = ".weights.h5" if path.name.endswith(".weights.h5") else path.suffix  # Keras checks the ending
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name[:-len(suffix)]}{suffix}")
    try:
        save(str(temporary))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def mark_stopped(directory, stopped_by):
    """Record in the committed state that training ended ("epochs", "early_stopping" or "time_budget"), so a
    run killed while it is evaluated resumes at its evaluation, not with more epochs."""
    path = Path(directory) / BACKUP_DIR / STATE_FILE
    state = read_state(directory)
    with paths.atomic_write(path, "w") as handle:
        handle.write(json.dumps({**state, "stopped_by": stopped_by}, indent=1))
