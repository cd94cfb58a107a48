"""Training a stack of members (:class:`~neuron_types.models.stacked.StackedNetwork`, and the
stacked LSPIN) with ordinary ``model.fit``: the minibatch order as data, per-member early
stopping and the GRL lambda schedule as callbacks.

Every member steps on minibatches of its own training cells (:func:`member_batches`), in
an order seeded by its own seed, so a member's steps are a function of its seed, its masks
and the shuffle seed alone: the member is the network it would be trained alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import ops

from neuron_types.config import DannTrainingConfig
from neuron_types.models.grl import ganin_lambda
from neuron_types.models.stacked_layers import member_scalers


def lambda_at(config: DannTrainingConfig, epoch: int) -> float:
    """The gradient-reversal lambda of ``epoch``: ``lambda_max`` throughout (``constant``),
    or Ganin's schedule with progress p = epoch / schedule_epochs (``ganin``)."""
    if config.lambda_schedule == "constant":
        return float(config.lambda_max)
    return ganin_lambda(epoch / config.schedule_epochs, config.lambda_max)


@dataclass(frozen=True)
class StackedData:
    """All cells any member uses, raw features, and which of them count for which member.

    ``label_weight[:, k]``: weight of each cell in member k's label loss (0 outside its
    training fold, and for cells whose labels it may not use); ``domain_weight[:, k]``: in its
    domain loss; ``validation_weight[:, k]``: in its validation label loss (its own
    validation cells only); ``validation_domain_weight[:, k]``: in its validation domain
    loss (a curve only; default: its validation cells, each 1); ``scaler_rows[:, k]``: the
    cells its input scaler is fitted on (default: every cell with a positive label or domain
    weight). ``label`` and ``domain`` are 0/1 per cell.
    """

    x: np.ndarray
    label: np.ndarray
    domain: np.ndarray
    label_weight: np.ndarray
    domain_weight: np.ndarray
    validation_weight: np.ndarray
    validation_domain_weight: np.ndarray
    scaler_rows: np.ndarray

    @classmethod
    def build(cls, x, label, domain, label_weight, domain_weight, validation_weight,
              validation_domain_weight=None, scaler_rows=None, allow_missing: bool = False) -> StackedData:
        x = np.asarray(x, dtype=np.float32)
        # allow_missing: NaN for a missing feature (a network whose scaler fills it), never inf
        present = np.isfinite(x) | (np.isnan(x) if allow_missing else False)
        if x.ndim != 2 or len(x) == 0 or not present.all():
            what = "finite or missing (NaN)" if allow_missing else "finite"
            raise ValueError(f"x: expected a non-empty, {what} 2-D feature matrix, got shape {x.shape}")
        n = len(x)
        label_weight = np.asarray(label_weight, dtype=np.float32)
        if label_weight.ndim != 2 or label_weight.shape[0] != n:
            raise ValueError(f"label_weight: expected shape ({n}, members), got {label_weight.shape}")
        k = label_weight.shape[1]
        arrays = {}
        if validation_domain_weight is None:
            validation_domain_weight = np.asarray(validation_weight) > 0
        for name, values, shape in (("label", label, (n,)), ("domain", domain, (n,)),
                                    ("domain_weight", domain_weight, (n, k)),
                                    ("validation_weight", validation_weight, (n, k)),
                                    ("validation_domain_weight", validation_domain_weight, (n, k))):
            values = np.asarray(values, dtype=np.float32)
            if values.shape != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {values.shape}")
            arrays[name] = values
        for name, weights in (("label_weight", label_weight), ("validation_weight", arrays["validation_weight"])):
            empty = np.flatnonzero(weights.sum(axis=0) <= 0)
            if len(empty):
                raise ValueError(f"{name}: members {empty.tolist()} have no cell with a positive weight")
        overlap = np.flatnonzero(((label_weight > 0) & (arrays["validation_weight"] > 0)).any(axis=0))
        if len(overlap):
            raise ValueError(f"validation_weight: members {overlap.tolist()} validate on cells they train on")
        if scaler_rows is None:
            scaler_rows = (label_weight > 0) | (arrays["domain_weight"] > 0)
        scaler_rows = np.asarray(scaler_rows, dtype=bool)
        if scaler_rows.shape != (n, k):
            raise ValueError(f"scaler_rows: expected shape {(n, k)}, got {scaler_rows.shape}")
        return cls(x=x, label_weight=label_weight, scaler_rows=scaler_rows, **arrays)

    @property
    def n_members(self) -> int:
        return self.label_weight.shape[1]

    def training_rows(self) -> np.ndarray:
        """``(cells, K)``: the cells member k's input scaler is fitted on."""
        return self.scaler_rows


def member_order(n_cells: int, shuffle_seed, member_seed, epoch):
    """Epoch ``epoch``'s order of a member's ``n_cells`` training cells (positions 0..n-1)."""
    seed = tf.stack([tf.cast(shuffle_seed, tf.int64), tf.cast(member_seed, tf.int64) * 2**20 + tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n_cells, dtype=tf.int64), seed=seed)


def steps_per_epoch(rows: list, batch_size: int) -> int:
    """Steps of one epoch: the most training cells any member has, in batches of ``batch_size``."""
    return math.ceil(max(len(r) for r in rows) / batch_size)


def member_batches(cells: dict, member_columns: dict, rows: list, seeds, shuffle_seed: int, batch_size: int,
                   epochs: int, first_epoch: int = 0, steps: int | None = None, members=None) -> tf.data.Dataset:
    """``epochs`` passes in which every member sees its own training cells, in minibatches.

    Member k's epoch e visits its cells ``rows[k]`` in ``member_order(len(rows[k]),
    shuffle_seed, seeds[k], e)``, cut into the epoch's S = :func:`steps_per_epoch` steps as
    near-equal consecutive runs (step s: positions ``s*n//S`` to ``(s+1)*n//S``), so no
    member has an empty step and none computes on another member's cells. A step is
    ``(x, targets)``: ``x`` ``(K, W, F)`` gathered from ``cells["x"]``, every other column of
    ``cells`` gathered to ``(K, W)``, every ``(cells, K)`` column of ``member_columns`` to
    ``(K, W)`` of member k's own values; W = the widest step, its padding weighing 0.

    Epochs ``first_epoch`` to ``epochs - 1`` only, with ``steps`` steps each (default
    :func:`steps_per_epoch` of ``rows``): a stack resumed without its stopped members keeps
    the step count of the whole stack, so each running member's minibatches stay the same.
    ``members``: also a ``"members"`` target, these indices (the running members).
    """
    n = [len(r) for r in rows]
    if min(n) == 0:
        raise ValueError(f"members {[k for k, m in enumerate(n) if m == 0]} have no training cells")
    steps = steps or steps_per_epoch(rows, batch_size)
    width = max(math.ceil(m / steps) for m in n)
    cells = {name: tf.constant(value) for name, value in cells.items()}
    by_member = {name: tf.constant(np.ascontiguousarray(np.asarray(value, np.float32).T))
                 for name, value in member_columns.items()}
    rows = [tf.constant(np.asarray(r, np.int64)) for r in rows]
    step = tf.range(steps, dtype=tf.int64)
    slot = tf.range(width, dtype=tf.int64)

    def one_epoch(epoch):
        index, valid = [], []
        for k, (member_rows, count) in enumerate(zip(rows, n)):
            order = tf.gather(member_rows, member_order(count, shuffle_seed, seeds[k], epoch))
            start, end = step * count // steps, (step + 1) * count // steps
            position = start[:, None] + slot[None, :]
            inside = position < end[:, None]
            index.append(tf.where(inside, tf.gather(order, tf.minimum(position, count - 1)), tf.zeros_like(position)))
            valid.append(inside)
        return tf.data.Dataset.from_tensor_slices((tf.stack(index, 1), tf.stack(valid, 1)))

    def gather(index, valid):
        batch = {name: tf.gather(value, index) for name, value in cells.items()}
        weight = tf.cast(valid, tf.float32)
        batch.update({name: tf.gather(value, index, batch_dims=1) * weight for name, value in by_member.items()})
        if members is not None:
            batch["members"] = tf.constant(np.asarray(members, np.int32))
        return batch.pop("x"), batch

    return tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch).map(gather).prefetch(2)


def per_member_validation(x: np.ndarray, columns: dict, weight: np.ndarray, rows=None) -> dict:
    """Each member's own validation cells (``rows``, default ``weight > 0``), gathered to
    ``(K, V, .)`` and padded with weight 0 (V = the most any member has): a validation pass
    costs the members' validation cells, not every cell for every member. A ``(cells, K)``
    column is gathered per member."""
    weight = np.asarray(weight, dtype=np.float32)
    rows = weight > 0 if rows is None else np.asarray(rows, dtype=bool)
    rows = [np.flatnonzero(rows[:, k]) for k in range(weight.shape[1])]
    width = max(len(r) for r in rows)
    index = np.stack([np.pad(r, (0, width - len(r))) for r in rows])
    valid = np.stack([np.arange(width) < len(r) for r in rows])
    padded = np.stack([weight[index[k], k] for k in range(len(rows))]) * valid

    def gather(values):
        values = np.asarray(values)
        if values.ndim == 2 and values.shape[1] == len(rows):
            return np.stack([values[index[k], k] for k in range(len(rows))]) * valid
        return values[index]

    gathered = {name: tf.constant(gather(values)) for name, values in columns.items()}
    return {"x": tf.constant(np.asarray(x, dtype=np.float32)[index]), "weight": tf.constant(padded), **gathered}


class MemberEarlyStopping(keras.callbacks.Callback):
    """Per-member early stopping on each member's own validation loss, with its best weights
    restored at the end (slice k of every stacked weight), and the per-member history.

    ``score() -> dict of (K,) arrays`` scores the validation cells; ``monitor`` names
    the one to minimise. Member k stops when ``epoch + 1 >= min_epochs`` and ``patience``
    epochs (counted in checks of ``check_every`` epochs) passed without a lower value; the
    fit stops when every member has. The per-epoch history records the training metrics in
    ``logs``, the scores and, when the model has a GRL, lambda.

    ``compact_at``: once a member stops and at most this share of the members running when
    the fit began still run, the fit stops with ``compacting`` set, keeping every state, so
    that the caller resumes the running members (:meth:`running`) alone in a new ``fit``
    with this same callback (``fit_stacked``), and only when that saves at least
    ``retrace_epochs`` epochs of the current stack (0: at every such stop): the stopped share times the
    epochs the running members must still run at least (their best epoch + ``patience``).
    The rule reads the training state only, never a clock, so reruns stay identical.

    ``keep_last``: no early stopping: every check counts as an improvement, so no member
    stops before the fit's last epoch and each keeps the weights of the last check.
    """

    def __init__(self, score, monitor: str, patience: int, min_epochs: int = 1, check_every: int = 1,
                 compact_at: float = 0.0, retrace_epochs: float = 0.0, keep_last: bool = False):
        super().__init__()
        self.keep_last = bool(keep_last)
        self.score, self.monitor = score, monitor
        self.patience, self.min_epochs, self.check_every = int(patience), int(min_epochs), int(check_every)
        self.compact_at, self.retrace_epochs = float(compact_at), float(retrace_epochs)
        self.best = None

    def on_train_begin(self, logs=None):
        # a resumed fit (the same stack without its stopped members) keeps every state
        self.compacting = False
        if self.best is not None:
            self.running_at_start = int((~self.stopped).sum())
            return
        k = self.model.n_members
        self.running_at_start = k
        self.best = np.full(k, np.inf)
        self.best_epoch = np.full(k, -1)
        self.stopped = np.zeros(k, dtype=bool)
        self.stopped_at = np.full(k, -1)
        self.best_weights = [ops.convert_to_numpy(v).copy() for v in self.model.member_variables()]
        self.rows: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.check_every:
            return
        # per-member metrics; Keras hands a one-member stack's (1,) values on as scalars
        k = self.model.n_members
        row = {name: np.atleast_1d(np.asarray(value, dtype=float)) for name, value in (logs or {}).items()
               if np.ndim(value) <= 1 and np.size(value) == k}
        row.update({name: ops.convert_to_numpy(value) for name, value in self.score().items()})
        grl = self.model.grl()
        if grl is not None:
            row["lambda"] = np.full(self.model.n_members, float(ops.convert_to_numpy(grl.lambda_)))
        row["epoch"] = epoch
        self.rows.append(row)
        monitored = row[self.monitor]
        improved = ((monitored < self.best) | self.keep_last) & ~self.stopped
        if improved.any():
            self.best[improved], self.best_epoch[improved] = monitored[improved], epoch
            for best, variable in zip(self.best_weights, self.model.member_variables()):
                best[improved] = ops.convert_to_numpy(variable)[improved]
        waited = epoch - self.best_epoch >= self.patience
        stops = ~self.stopped & ~improved & waited & (epoch + 1 >= self.min_epochs)
        self.stopped_at[stops] = epoch
        self.stopped |= stops
        self.last_epoch = epoch
        running = int((~self.stopped).sum())
        if running == 0:
            self.model.stop_training = True
        elif stops.any() and running <= self.compact_at * self.running_at_start and self._worth_compacting(epoch):
            self.compacting = self.model.stop_training = True

    def _worth_compacting(self, epoch: int) -> bool:
        epochs_left = self.params.get("epochs", np.inf) - (epoch + 1)
        if epochs_left <= 0:
            return False
        running = ~self.stopped
        still_running = min(float((self.best_epoch[running] + self.patience).max() - epoch), epochs_left)
        saved = (1 - running.sum() / self.running_at_start) * still_running
        return bool(saved >= self.retrace_epochs)

    def running(self) -> np.ndarray:
        """The indices of the members that have not stopped."""
        return np.flatnonzero(~self.stopped)

    def on_train_end(self, logs=None):
        if self.compacting:
            return  # resumed without the stopped members; the best weights are restored at the end
        never = np.flatnonzero(~np.isfinite(self.best))
        if len(never):
            raise FloatingPointError(f"training diverged: members {never.tolist()} never had a finite {self.monitor}")
        for best, variable in zip(self.best_weights, self.model.member_variables()):
            variable.assign(best)

    def history(self) -> pd.DataFrame:
        """One row per member and checked epoch up to the epoch it stopped at (it trains on
        while others have not stopped, but those weights are never kept); ``best_epoch``
        marks each member's restored epoch."""
        frames = []
        for k in range(self.model.n_members):
            last = self.stopped_at[k] if self.stopped[k] else np.inf
            frame = pd.DataFrame([{name: (value if name == "epoch" else float(value[k]))
                                   for name, value in row.items()} for row in self.rows if row["epoch"] <= last])
            frame.insert(0, "member", k)
            frame["best_epoch"] = frame["epoch"] == self.best_epoch[k]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


class LambdaSchedule(keras.callbacks.Callback):
    """Sets the GRL's lambda (a non-trainable variable) before every epoch:
    ``lambda_at(config, epoch)`` (constant, or Ganin's schedule)."""

    def __init__(self, config: DannTrainingConfig):
        super().__init__()
        self.config = config

    def on_epoch_begin(self, epoch, logs=None):
        grl = self.model.grl()
        if grl is not None:
            grl.set_lambda(lambda_at(self.config, epoch))


def _weighted_scores(logit, target, weight, prefix: str) -> dict:
    loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logit)
    hit = tf.cast(tf.equal(tf.cast(logit > 0, tf.float32), target), tf.float32)
    total = tf.maximum(tf.reduce_sum(weight, axis=1), 1e-12)
    return {f"{prefix}_loss": tf.reduce_sum(loss * weight, axis=1) / total,
            f"{prefix}_accuracy": tf.reduce_sum(hit * weight, axis=1) / total}


def label_validation_scorer(model, validation: dict):
    """A traced ``() -> {"val_label_loss", "val_label_accuracy"}`` (and, with a domain head,
    ``val_domain_loss``, ``val_domain_accuracy``), each ``(K,)``, of a StackedNetwork on its
    members' own validation cells (``per_member_validation``)."""

    @tf.function
    def score():
        logit, domain_logit = model(validation["x"], training=False)
        scores = _weighted_scores(logit, validation["label"], validation["weight"], "val_label")
        if domain_logit is not None:
            scores.update(_weighted_scores(domain_logit, validation["domain"], validation["domain_weight"],
                                           "val_domain"))
        return scores

    return score


# Resume a stack without its stopped members once no more than this share of the members
# that started the fit still runs. The 15 unsupervised DANN members of one model stop
# between epochs 52 and 179, so without it the stack computed 2,700 member-epochs for 1,164
# needed: 186 s -> 145 s with this share alone; the joint network, whose members stop
# within epochs 20-37, unchanged (44 s -> 45 s) (benchmarks/compaction.py,
# results/compaction-2026-12-01.json).
COMPACT_AT = 0.5
# ... and if it saves at least this many epochs of the stack being resumed: a retrace costs
# 5-7 s, 6-10 epochs of a 15-member DANN stack (first epoch 6-9 s against 0.6-0.9 s later,
# benchmarks/training_engine.py). A wall-clock rule would make reruns differ.
RETRACE_EPOCHS = 10


def fit_stacked(model, data: StackedData, config: DannTrainingConfig, shuffle_seed: int,
                jit_compile: bool = False, steps_per_execution: int | None = None,
                callbacks=(), compact_at: float = COMPACT_AT, retrace_epochs: float = RETRACE_EPOCHS) -> pd.DataFrame:
    """Trains every member of ``model`` (a fresh ``StackedNetwork``) on ``data`` with
    ``model.fit`` and Adam(``config.learning_rate``); returns the per-member history.

    Each member's scaler is fitted on its own training rows. One epoch is one pass of every
    member over its own training cells (:func:`member_batches`); ``steps_per_execution``
    defaults to a whole epoch per call.

    Once members have stopped and at most ``compact_at`` of those that started a fit still
    run, and that saves at least ``retrace_epochs`` stack-epochs (``MemberEarlyStopping``),
    the fit resumes at the next epoch on the running members only (``compact_at`` 0:
    never): their minibatches, weights, optimiser state and lambda carry on, so each member follows the
    steps it would in the full stack; only dropout draws, which are made over the whole
    ``(K, B, F)`` activations, differ. Callbacks see one ``fit`` per resumption.
    """
    if data.n_members != model.n_members:
        raise ValueError(f"data: {data.n_members} members' weights for a stack of {model.n_members}")
    if model.domain_head and (data.domain_weight.sum(axis=0) <= 0).any():
        raise ValueError("domain_weight: a member's domain weights are all 0; its domain head has nothing to learn")
    model.set_input_scaling(*member_scalers(data.x, data.training_rows()))
    # a member's minibatches hold its own training cells only: those its losses weigh
    rows = [np.flatnonzero((data.label_weight[:, k] > 0) | (data.domain_weight[:, k] > 0))
            for k in range(data.n_members)]
    steps = steps_per_epoch(rows, config.batch_size)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution or steps)
    validation_rows = (data.validation_weight > 0) | (data.validation_domain_weight > 0)
    validation = per_member_validation(
        data.x, {"label": data.label, "domain": data.domain,
                 "domain_weight": np.where(validation_rows, data.validation_domain_weight, 0.0).astype("float32")},
        data.validation_weight, rows=validation_rows)
    stopping = MemberEarlyStopping(label_validation_scorer(model, validation), "val_label_loss",
                                   config.patience, config.min_epochs, compact_at=compact_at,
                                   retrace_epochs=retrace_epochs)

    def batches(members, first_epoch, running_only):
        return member_batches({"x": data.x, "label": data.label, "domain": data.domain},
                              {"label_weight": data.label_weight[:, members],
                               "domain_weight": data.domain_weight[:, members]},
                              [rows[k] for k in members], [model.seeds[k] for k in members], shuffle_seed,
                              config.batch_size, config.max_epochs, first_epoch=first_epoch, steps=steps,
                              members=members if running_only else None)

    return fit_until_stopped(model, batches, stopping, config.max_epochs, steps, [LambdaSchedule(config), *callbacks])


def fit_until_stopped(model, batches, stopping: MemberEarlyStopping, max_epochs: int, steps: int,
                      callbacks=()) -> pd.DataFrame:
    """``model.fit`` until every member stopped (or ``max_epochs``), resumed on the running
    members whenever ``stopping`` asks to compact; returns ``stopping.history()``.

    ``batches(members, first_epoch, running_only)`` gives the minibatches of ``members``
    from ``first_epoch`` on (:func:`member_batches` with ``steps`` steps), with the
    ``"members"`` target when ``running_only``."""
    members, first_epoch, running_only = np.arange(model.n_members), 0, False
    while True:
        model.fit(batches(members, first_epoch, running_only), epochs=max_epochs, initial_epoch=first_epoch,
                  steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=[stopping, *callbacks])
        if not stopping.compacting:
            return stopping.history()
        members, first_epoch, running_only = stopping.running(), stopping.last_epoch + 1, True
