"""How much of a product's labels the converter's encoder can read from the photos at all.

Why: the attribute judge scores the converter's drawings (Cat, Att), so a low Cat may be the
decoder drawing badly or the encoder not telling the categories apart. This trains the
converter's encoder (same layers, width, code size, optimiser, batch and jitter as the
config) with a linear head per label on its code, on the synthetic LookBook's labels
directly, and reports test and training accuracy as it goes: what a code learnt in that
many images can carry at best, and how much of it is the training products learnt by heart.
With `--workdir`, it reads a trained converter's own code instead: linear heads fitted on
its frozen codes say how much of each label the converter learnt to carry, so a low Cat can
be put on the encoder (the code lacks the category) or on the decoder (it has it, the
drawing loses it).

    python benchmarks/label_probe.py                        # configs/synthetic.py's 4,000 steps
    python benchmarks/label_probe.py --steps 12000 --output probe.json
    python benchmarks/label_probe.py --max-shift 4 --flip   # with the pairs' jitter
    python benchmarks/label_probe.py --labels category      # one label: no others compete
    python benchmarks/label_probe.py --plot probe.png --compare WORKDIR=LABEL   # + a run's Cat
    python benchmarks/label_probe.py --workdir WORKDIR      # what a trained converter's code holds
    python benchmarks/label_probe.py --by-pattern           # + test accuracy per pattern
"""

import argparse
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from step_benchmark import load_config
from tables import format_table

from pldt_jax import attributes, augment, checkpoints, prepare, report_runs
from pldt_jax.attribute_classifier import NUM_CLASSES
from pldt_jax.images import to_float
from pldt_jax.models import Encoder, stage_filters
from pldt_jax.optimizers import create_optimizer
from pldt_jax.split_arrays import SplitArrays
from pldt_jax.train_step import TrainState
from pldt_jax_datasets.lookbook.taxonomy import PATTERNS

TRAIN_SUBSET = 1000  # training photos scored beside the test split, to show the gap


class LabelProbe(nn.Module):
    """The converter's encoder and a linear head per label (NUM_CLASSES keys) on its code."""

    filters: Sequence[int]
    code_dim: int
    labels: Sequence[str] = tuple(NUM_CLASSES)
    stage_convs: int = 0
    attention_heads: int = 0

    @nn.compact
    def __call__(self, photos: jax.Array, train: bool) -> dict[str, jax.Array]:
        code = Encoder(
            self.filters,
            self.code_dim,
            stage_convs=self.stage_convs,
            attention_heads=self.attention_heads,
        )(photos, train)
        return {name: nn.Dense(NUM_CLASSES[name], name=name)(code) for name in self.labels}


class Labelled(NamedTuple):
    """Photos (uint8 (N, R, R, 3)) and their labels (NUM_CLASSES keys, int (N,)); with
    `patterns` (the photos' `pattern` and `pattern_color`), accuracies per pattern too."""

    photos: np.ndarray
    labels: dict[str, np.ndarray]
    patterns: dict[str, np.ndarray] | None = None


def labelled(
    split: SplitArrays,
    rows: slice | np.ndarray = slice(None),
    labels: Sequence[str] = tuple(NUM_CLASSES),
    by_pattern: bool = False,
) -> Labelled:
    """The split's sources (photos) and `labels`, at `rows`, and with `by_pattern` their
    patterns; only those rows' images are copied."""
    patterns = ("pattern", "pattern_color") if by_pattern else ()
    return Labelled(
        split.gather("source", rows),
        {name: np.asarray(getattr(split, name))[rows] for name in labels},
        {name: np.asarray(getattr(split, name))[rows] for name in patterns} or None,
    )


def accuracies(predicted: dict[str, np.ndarray], data: Labelled) -> dict[str, float]:
    """`<label>` accuracy of the `predicted` classes; with `data.patterns`, also
    `<label>@<pattern>` on the photos of each pattern present, where the colour counts as
    right when it is either colour of a stripe or check (`attributes.second_color`), as the
    converters' Att scores it: whether the photos show a pattern's colours, not which one
    the labels call its base."""
    correct = {name: predicted[name] == truth for name, truth in data.labels.items()}
    row = {name: float(np.mean(hits)) for name, hits in correct.items()}
    if data.patterns is None:
        return row
    if "color" in correct:
        second = attributes.second_color(data.patterns)
        correct["color"] = correct["color"] | ((second >= 0) & (predicted["color"] == second))
    for index, pattern in enumerate(PATTERNS):
        shown = data.patterns["pattern"] == index
        if shown.any():
            row |= {
                f"{name}@{pattern}": float(np.mean(hits[shown])) for name, hits in correct.items()
            }
    return row


def pattern_table(row: dict[str, float]) -> list[dict[str, object]]:
    """The `<split>/<label>@<pattern>` entries of one row as a row per split and pattern."""
    table: dict[tuple[str, str], dict[str, object]] = {}
    for key, value in row.items():
        if "@" in key:
            name, pattern = key.split("@")
            split, label = name.split("/")
            entry = {"split": split, "photos_pattern": pattern}
            table.setdefault((split, pattern), entry)[label] = value
    return list(table.values())


def require_labels(train: Labelled) -> None:
    """Raises ValueError when a training photo lacks a label (every photo of the real LookBook)."""
    for name, values in train.labels.items():
        if (values < 0).any():
            raise ValueError(
                f"{(values < 0).sum()} training photos have no {name!r} label: the probe needs "
                "the synthetic LookBook's labels."
            )


def train_probe(
    config: ml_collections.ConfigDict,
    train: Labelled,
    evaluate: dict[str, Labelled],
    steps: int,
    eval_every: int,
    flip: bool,
    max_shift: int,
    seed: int = 0,
) -> Iterator[dict[str, float]]:
    """Trains on `train`; every `eval_every` steps yields one row:
    step, seconds, and `<split>/<label>` accuracy for each split of `evaluate` and each label
    of `train` (trained alone, one label shows what the code learns when no other competes)."""
    require_labels(train)
    net = LabelProbe(
        stage_filters(config.resolution, config.model.width),
        config.model.code_dim,
        tuple(train.labels),
        config.model.encoder_stage_convs,
        config.model.encoder_attention_heads,
    )
    size = config.resolution
    variables = net.init(jax.random.key(seed), jnp.zeros((1, size, size, 3)), train=False)
    params, batch_stats = variables["params"], variables["batch_stats"]
    optimizer = create_optimizer(config, steps)
    opt_state = optimizer.init(params)
    train_labels = {name: jnp.asarray(y) for name, y in train.labels.items()}

    @jax.jit
    def step(params, batch_stats, opt_state, photos, rows, rng):
        photos = augment.augment_batch(
            rng, {"source": photos, "target": photos, "negative": photos}, flip, max_shift
        )["source"]

        def loss_fn(params):
            logits, mutated = net.apply(
                {"params": params, "batch_stats": batch_stats},
                to_float(photos),
                train=True,
                mutable=["batch_stats"],
            )
            loss = sum(
                optax.softmax_cross_entropy_with_integer_labels(
                    logits[name], train_labels[name][rows]
                ).mean()
                for name in train_labels
            )
            return loss, mutated["batch_stats"]

        (_, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), batch_stats, opt_state

    @jax.jit
    def predict(params, batch_stats, photos):
        logits = net.apply({"params": params, "batch_stats": batch_stats}, to_float(photos), False)
        return {name: x.argmax(-1) for name, x in logits.items()}

    def accuracy(data: Labelled) -> dict[str, float]:
        batch = config.eval_batch_size
        predictions = [
            predict(params, batch_stats, jnp.asarray(data.photos[lo : lo + batch]))
            for lo in range(0, len(data.photos), batch)
        ]
        return accuracies(
            {name: np.concatenate([p[name] for p in predictions]) for name in data.labels}, data
        )

    order = np.random.default_rng(seed)
    rng = jax.random.key(seed + 1)
    start = time.perf_counter()
    for i in range(1, steps + 1):
        rows = order.integers(0, len(train.photos), config.batch_size)
        params, batch_stats, opt_state = step(
            params,
            batch_stats,
            opt_state,
            jnp.asarray(train.photos[rows]),
            jnp.asarray(rows),
            jax.random.fold_in(rng, i),
        )
        if i % eval_every == 0 or i == steps:
            row = {"step": i, "seconds": round(time.perf_counter() - start, 1)}
            for name, data in evaluate.items():
                row |= {f"{name}/{label}": round(v, 4) for label, v in accuracy(data).items()}
            yield row


def converter_codes(converter: TrainState, photos: np.ndarray, batch_size: int) -> np.ndarray:
    """A trained converter's codes of uint8 photos, flattened to float (N, D), batch norm in
    inference mode (the residual converter's code is its encoder's feature map)."""
    variables = {"params": converter.params, "batch_stats": converter.batch_stats}

    @jax.jit
    def encode(batch):
        code = converter.apply_fn(
            variables, to_float(batch), False, method=lambda net, x, train: net.encoder(x, train)
        )
        return code.reshape(len(batch), -1)

    return np.concatenate(
        [
            np.asarray(encode(jnp.asarray(photos[lo : lo + batch_size])))
            for lo in range(0, len(photos), batch_size)
        ]
    )


def code_probe(
    converter: TrainState,
    train: Labelled,
    evaluate: dict[str, Labelled],
    steps: int = 1500,
    batch_size: int = 256,
) -> dict[str, float]:
    """`<split>/<label>` accuracy of linear heads fitted (full batch, Adam) on the converter's
    frozen codes of the training photos, each code dimension standardised."""
    require_labels(train)
    codes = converter_codes(converter, train.photos, batch_size)
    mean, scale = codes.mean(0), codes.std(0) + 1e-6
    features = jnp.asarray((codes - mean) / scale)
    heads = {
        name: (jnp.zeros((codes.shape[1], NUM_CLASSES[name])), jnp.zeros(NUM_CLASSES[name]))
        for name in train.labels
    }
    labels = {name: jnp.asarray(y) for name, y in train.labels.items()}
    optimizer = optax.adam(1e-2)

    @jax.jit
    def update(heads, opt_state):
        def loss_fn(heads):
            return sum(
                optax.softmax_cross_entropy_with_integer_labels(
                    features @ w + b, labels[name]
                ).mean()
                for name, (w, b) in heads.items()
            )

        updates, opt_state = optimizer.update(jax.grad(loss_fn)(heads), opt_state)
        return optax.apply_updates(heads, updates), opt_state

    opt_state = optimizer.init(heads)
    for _ in range(steps):
        heads, opt_state = update(heads, opt_state)
    row = {}
    for split, data in evaluate.items():
        x = (converter_codes(converter, data.photos, batch_size) - mean) / scale
        predicted = {
            name: np.asarray(x @ np.asarray(w) + np.asarray(b)).argmax(-1)
            for name, (w, b) in heads.items()
        }
        row |= {f"{split}/{key}": round(v, 4) for key, v in accuracies(predicted, data).items()}
    return row


def plot(rows: Sequence[dict[str, float]], output: str, runs: Sequence[str] = ()) -> None:
    """Test (solid) and training (dashed) accuracy per label over the steps; each of `runs`
    (WORKDIR[=LABEL]) adds its converter's validation Cat to the category panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [key for key in rows[0] if "/" in key and "@" not in key]
    splits = list(dict.fromkeys(key.split("/")[0] for key in curves))
    labels = list(dict.fromkeys(key.split("/")[1] for key in curves))
    if runs and "category" not in labels:
        raise ValueError(
            "A run's Cat is drawn beside the probe's category, which it did not learn."
        )
    steps = [row["step"] for row in rows]
    figure, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.4), squeeze=False)
    axes = dict(zip(labels, axes[0], strict=True))
    for label, ax in axes.items():
        for split in splits:
            style = "--" if split == "train" else "-"
            values = [row[f"{split}/{label}"] for row in rows]
            ax.plot(steps, values, style, marker=".", label=f"probe, {split} photos")
        ax.set_title(f"{label}: the encoder trained on it")
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    for run in runs:
        workdir, _, name = run.partition("=")
        curves = report_runs.read_curves(Path(workdir) / "metrics.jsonl")
        if "val/cat" not in curves:
            raise ValueError(f"{workdir}/metrics.jsonl has no validation Cat (val/cat) to show.")
        axes["category"].plot(
            *curves["val/cat"], ":", marker=".", label=f"{name or workdir}: Cat, validation"
        )
    next(iter(axes.values())).legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(output, dpi=110)


def main(argv: Sequence[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/synthetic.py")
    parser.add_argument("--steps", type=int, default=None, help="default: the config's")
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--flip", action="store_true", default=None)
    parser.add_argument("--max-shift", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--labels",
        type=lambda text: text.split(","),
        default=list(NUM_CLASSES),
        help=f"comma-separated, of {', '.join(NUM_CLASSES)} (default: all)",
    )
    parser.add_argument(
        "--workdir",
        help="fit heads on this trained run's converter codes instead (its own config and "
        "data; the training options above are not used)",
    )
    parser.add_argument(
        "--by-pattern",
        action="store_true",
        help="also each label's accuracy on the evaluation photos of each pattern, at the end",
    )
    parser.add_argument("--output", help="JSON file for the rows")
    parser.add_argument("--plot", help="PNG of the curves")
    parser.add_argument(
        "--compare", nargs="*", default=[], help="WORKDIR[=LABEL]: a run's Cat on the plot"
    )
    args = parser.parse_args(argv)
    if unknown := set(args.labels) - set(NUM_CLASSES):
        parser.error(f"unknown labels {sorted(unknown)}; choose of {', '.join(NUM_CLASSES)}")
    if args.workdir:
        step, converter, config = checkpoints.restore_network(Path(args.workdir) / "checkpoints")
    else:
        config = load_config(args.config)
    steps = args.steps or config.total_steps
    flip = config.dataset.flip if args.flip is None else args.flip
    max_shift = config.dataset.max_shift if args.max_shift is None else args.max_shift
    splits = prepare.load_splits(config, [config.dataset.eval_split, "train"])
    shown = np.random.default_rng(args.seed).permutation(len(splits["train"]))[:TRAIN_SUBSET]
    evaluate = {
        config.dataset.eval_split: labelled(
            splits[config.dataset.eval_split], labels=args.labels, by_pattern=args.by_pattern
        ),
        "train": labelled(splits["train"], shown, args.labels),
    }
    train = labelled(splits["train"], labels=args.labels)
    if args.workdir:
        rows = [{"step": step} | code_probe(converter, train, evaluate)]
    else:
        rows = []
        for row in train_probe(
            config, train, evaluate, steps, args.eval_every, bool(flip), max_shift, args.seed
        ):
            rows.append(row)
            print(
                ", ".join(f"{key} {value:g}" for key, value in row.items() if "@" not in key),
                flush=True,
            )
    print(format_table(rows, [(key, key) for key in rows[0] if "@" not in key]))
    if args.by_pattern:
        by_pattern = pattern_table(rows[-1])
        print(f"\nstep {rows[-1]['step']}, per pattern (colour: either of a stripe's or check's)")
        print(format_table(by_pattern, [(key, key) for key in by_pattern[0]]))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(
                {
                    "config": args.config,
                    "workdir": args.workdir,
                    "labels": args.labels,
                    "flip": flip,
                    "max_shift": max_shift,
                    "rows": rows,
                },
                f,
            )
    if args.plot:
        plot(rows, args.plot, args.compare)
    return rows


if __name__ == "__main__":
    main()
