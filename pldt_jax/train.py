"""The training loop: data, states, the jitted step, and everything written to the work dir.

All side effects live here (files, logs, checkpoints, the periodic validation every
`eval_every_steps`: `evaluate.score_converter` on the sample split, logged as val/*); the
step itself is pure.
Rerunning with the same work dir resumes from the latest checkpoint.
"""

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from pldt_jax import (
    attributes,
    checkpoints,
    errors,
    evaluate,
    images,
    inference,
    input_pipeline,
    logs,
    optimizers,
    prepare,
    sharding,
    split_arrays,
    train_step,
    workdir_lock,
)
from pldt_jax import config as config_lib
from pldt_jax.train_step import TrainState


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json(indent=2, sort_keys=True))


def sample_grid(converter: TrainState, samples: dict[str, np.ndarray]) -> np.ndarray:
    """Rows of (photo | true product | generated) triplets, four triplets per row."""
    generated = images.to_uint8(np.asarray(inference.generate(converter, samples["source"])))
    triplets = [
        [samples["source"][i], samples["target"][i], generated[i]] for i in range(len(generated))
    ]
    rows = [sum(triplets[i : i + 4], []) for i in range(0, len(triplets), 4)]
    return images.image_grid(rows)


# What the periodic validation logs as val/<key>, of `evaluate.score_converter`'s results
# (those it has: no Cat / Att without labels, no retrieval for 'product_to_human'), and
# its name in the log line.
VALIDATION_KEYS = {
    "rmse": "RMSE",
    "cssim": "C-SSIM",
    "retrieval_top1": "top-1",
    "retrieval_top5": "top-5",
    "cat": "Cat",
    "att": "Att",
    "realism_fd": "FD",
    "spread_ratio": "spread",
}

# The losses of the progress line, as (label, metric); those a run has (C+MSE has no
# discriminator losses).
LOGGED_LOSSES = (
    ("D_rf", "d_real_fake_loss"),
    ("D_dd", "d_domain_loss"),
    ("C", "converter_loss"),
    ("mse", "mse"),
)


def validation_due(step: int, every: int, num_steps: int) -> bool:
    """Whether the periodic validation runs after `step`: every `every` steps and at
    the last; never with `every` 0."""
    return every > 0 and (step % every == 0 or step == num_steps)


def validation_scalars(results: dict[str, Any], seconds: float) -> dict[str, float]:
    """The periodic validation's row of metrics.jsonl: VALIDATION_KEYS as val/<key>."""
    values = {f"val/{key}": float(results[key]) for key in VALIDATION_KEYS if key in results}
    return values | {"val/num_images": int(results["num_images"]), "val/seconds": seconds}


class TrainingInterrupted(Exception):
    """A stop was requested (SIGTERM, SIGINT); a checkpoint of `step` has been saved."""

    def __init__(self, step: int, signum: int, workdir: str):
        self.step = step
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(
            f"{name} at step {step}: checkpoint saved in {workdir}/checkpoints; "
            "rerun the same command to resume."
        )


class NonFiniteError(errors.Error):
    """A loss or gradient stopped being finite; nothing after the last good checkpoint is kept."""

    def __init__(self, step: int, metrics: dict[str, Any], last_checkpoint: int | None):
        bad = sorted(k for k, v in metrics.items() if not np.isfinite(v))
        losses = ", ".join(f"{k}={float(v):.4g}" for k, v in sorted(metrics.items()) if "loss" in k)
        kept = f"step {last_checkpoint}" if last_checkpoint is not None else "none yet"
        super().__init__(
            f"non-finite {', '.join(bad)} at step {step} ({losses}); training stopped. "
            f"Last good checkpoint: {kept}. Lower the learning rate, or set "
            "--config.skip_nonfinite_steps=True to skip such steps."
        )


@contextlib.contextmanager
def stop_requests() -> Iterator[list[int]]:
    """Turns SIGTERM and SIGINT into a request to stop at the next step boundary."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # Signal handlers can only be installed from the main thread.
        return
    stopping = (signal.SIGTERM, signal.SIGINT)
    previous = {
        signum: signal.signal(signum, lambda n, _: received.append(n)) for signum in stopping
    }
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_signal(signals: list[int]) -> int:
    """The stop signal any process received, 0 if none: all processes must save the same step."""
    received = signals[0] if signals else 0
    if jax.process_count() == 1:
        return received
    return int(multihost_utils.process_allgather(np.array(received)).max())


def format_duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def create_workdir(config: ml_collections.ConfigDict, workdir: str) -> str:
    """Checks the config, then creates the work dir (if needed); its absolute path."""
    config_lib.validate(config, jax.device_count())
    workdir = os.path.abspath(workdir)
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    return workdir


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Trains per the config in `workdir` (resuming if it holds a checkpoint), then evaluates;
    the work dir stays held (`workdir_lock`) until both are done."""
    workdir = create_workdir(config, workdir)
    with workdir_lock.hold(workdir):
        train_locked(config, workdir)
        # Training's splits and states are released by now: evaluation loads its own.
        return evaluate.evaluate(workdir, config.dataset.eval_split)


def train(config: ml_collections.ConfigDict, workdir: str) -> str:
    """Trains per the config in `workdir`, resuming if it holds a checkpoint; its absolute path."""
    workdir = create_workdir(config, workdir)
    with workdir_lock.hold(workdir):
        return train_locked(config, workdir)


def train_locked(config: ml_collections.ConfigDict, workdir: str) -> str:
    """`train` in a work dir made by `create_workdir` and held by `workdir_lock.hold`."""
    is_chief = jax.process_index() == 0
    if is_chief:
        write_config(workdir, config)

    splits = prepare.load_splits(config, ["train", config.dataset.sample_split])
    train_split, sample_split = splits["train"], splits[config.dataset.sample_split]
    samples = next(iter(input_pipeline.eval_batches(sample_split, config.num_sample_images)))
    batches = input_pipeline.create_train_iterator(config, train_split)
    num_steps = optimizers.total_steps(config, batches.steps_per_epoch)

    mesh = sharding.create_mesh()
    on_device = input_pipeline.keep_on_device(config.dataset.on_device, train_split)
    if on_device:
        batches = input_pipeline.DeviceBatches(
            batches, sharding.replicated(mesh), sharding.batch_sharding(mesh)
        )

    def next_batch() -> train_step.Batch:
        return next(batches) if on_device else sharding.global_batch(next(batches), mesh)

    init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
    states = train_step.create_replicated_states(config, init_rng, num_steps, mesh)

    manager = checkpoints.create_manager(
        os.path.join(workdir, "checkpoints"), config.max_checkpoints_to_keep
    )
    first_step = 0
    restored = checkpoints.restore(manager, states, config)
    if restored is not None:
        first_step, states, progress = restored
        batches.set_state(progress["data"])
        logging.info("Resumed from the checkpoint of step %d.", first_step)

    full_step = train_step.sharded_train_step(config, mesh)
    # The warm-up steps' own jitted step (compiled only if any are left to run).
    warmup_steps = config.loss.warmup_steps
    warmup_step = (
        train_step.sharded_train_step(train_step.warmup_config(config), mesh)
        if warmup_steps
        else None
    )
    log = logs.RunLog(workdir, enabled=is_chief)
    if first_step >= num_steps:
        logging.info(
            "Step %d ends the schedule: nothing left to train; work dir %s", first_step, workdir
        )
    else:
        logging.info(
            "Training steps %d to %d (%d per epoch) of global batch %d on %d device(s), "
            "batches gathered on the %s; work dir %s",
            first_step + 1,
            num_steps,
            batches.steps_per_epoch,
            config.batch_size,
            jax.device_count(),
            "device" if on_device else "host",
            workdir,
        )

    def save(step: int) -> None:
        progress = {"data": batches.get_state(), "seed": config.seed}
        checkpoints.save(manager, step, states, progress, config)

    def write_samples(step: int) -> None:
        if not is_chief:
            return
        grid = sample_grid(states.converter, samples)
        images.save_png(grid, os.path.join(workdir, "samples", f"step_{step}.png"))
        log.image(step, "samples", grid)

    # Periodic validation: the chief scores the converter on the sample split, already
    # loaded; the attribute judge is loaded (or trained and cached) once, here.
    validate_every = config.eval_every_steps
    catalogue, judge, judge_reference = None, None, None
    if validate_every > 0 and is_chief:
        catalogue = split_arrays.products(train_split)
        judge = evaluate.load_judge(config, catalogue)
        if judge is not None:  # What every validation compares with, read once.
            judge_reference = attributes.read_reference(judge, sample_split, catalogue.image)
        logging.info(
            "Validation every %d steps on the %d %s photos (%d products).",
            validate_every,
            len(sample_split),
            config.dataset.sample_split,
            len(np.unique(sample_split.product_id)),
        )

    def run_validation(step: int) -> float:
        """Scores and logs the converter on the sample split; returns the seconds it took."""
        if not is_chief:
            return 0.0
        jax.block_until_ready(states.converter)  # The queued steps are no part of its time.
        start = time.time()
        results, _ = evaluate.score_converter(
            sharding.local_copy(states.converter),
            sample_split,
            config.eval_batch_size,
            judge,
            judge_reference=judge_reference,
        )
        seconds = time.time() - start
        log.scalars(step, validation_scalars(results, seconds))
        logging.info(
            "validation at step %d: %s over %d images (%.1f s)",
            step,
            " | ".join(
                f"{name} {results[key]:.4f}"
                for key, name in VALIDATION_KEYS.items()
                if key in results
            ),
            results["num_images"],
            seconds,
        )
        return seconds

    def guard(step: int, metrics: train_step.Metrics) -> None:
        if not config.skip_nonfinite_steps and not bool(metrics["finite"]):
            raise NonFiniteError(step, jax.device_get(metrics), manager.latest_step())

    previous_metrics = None
    skipped = 0  # Steps the guard skipped, counted on the device (no sync per step).
    window_start, window_steps, input_seconds, run_start = time.time(), 0, 0.0, time.time()
    with stop_requests() as signals, checkpoints.finished_on_error(manager):
        for step in range(first_step + 1, num_steps + 1):
            input_start = time.perf_counter()
            batch = next_batch()
            input_seconds += time.perf_counter() - input_start
            run_step = warmup_step if step <= warmup_steps else full_step
            states, metrics = run_step(states, batch, jax.random.fold_in(step_rng, step))
            # The previous step is checked once this one is queued, so the device never waits.
            if previous_metrics is not None:
                guard(step - 1, previous_metrics)
            previous_metrics = metrics
            skipped = skipped + (1 - metrics["finite"].astype(int))
            window_steps += 1

            if step % config.log_every_steps == 0 or step == num_steps:
                guard(step, metrics)
                values = {k: float(v) for k, v in jax.device_get(metrics).items()}
                elapsed = time.time() - window_start
                values["images_per_second"] = window_steps * config.batch_size / elapsed
                # Host time to produce a batch: the device waits for data only if it is
                # longer than a step (the step is dispatched asynchronously).
                values["input_ms_per_step"] = 1e3 * input_seconds / window_steps
                values["learning_rate"] = float(
                    optimizers.learning_rate_schedule(config, num_steps)(step)
                )
                values["skipped_steps"] = int(skipped)
                log.scalars(step, values)
                remaining = (num_steps - step) * elapsed / window_steps
                losses_text = [
                    f"{label} {values[key]:.3f}" for label, key in LOGGED_LOSSES if key in values
                ]
                logging.info(
                    " | ".join(
                        [
                            f"step {step}/{num_steps}",
                            f"{values['images_per_second']:.1f} img/s",
                            *losses_text,
                            f"elapsed {format_duration(time.time() - run_start)}",
                            f"eta {format_duration(remaining)}",
                        ]
                    )
                )
                window_start, window_steps, input_seconds = time.time(), 0, 0.0

            stop = stop_signal(signals)
            if step % config.sample_every_steps == 0 or step == num_steps:
                write_samples(step)
            if stop or step % config.checkpoint_every_steps == 0 or step == num_steps:
                guard(step, metrics)
                save(step)
            if not stop and validation_due(step, validate_every, num_steps):
                guard(step, metrics)
                # Validation time is taken out of the log window: images/s counts training.
                window_start += run_validation(step)
            if stop:
                manager.wait_until_finished()
                raise TrainingInterrupted(step, stop, workdir)

    manager.wait_until_finished()
    manager.close()
    log.close()
    return workdir
