"""Evaluation as PLDT section 5.5: RMSE and C-SSIM between generated and true product images.

python -m pldt_jax.evaluate --workdir=DIR [--split=test]

Restores the converter of the latest checkpoint in DIR with the config it was
trained with, and writes DIR/eval/metrics.json and DIR/eval/examples.npz. Generated
images are scored as the uint8 pictures a user gets, like the paper's saved outputs.

Also the papers' motivating use, needing no labels: product retrieval. For each photo,
the rank of its true product among the split's distinct product images by the distance
of `metrics.retrieval_distances` to the generated image (the DD-score for the retrieval
baseline), reported as `retrieval_top1` / `retrieval_top5` beside their chance level
(`retrieval_chance_top<k>` = k / `retrieval_gallery_size`).
"""

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import flags, logging

from pldt_jax import (
    attribute_classifier,
    attributes,
    checkpoints,
    errors,
    inference,
    metrics,
    prepare,
    retrieval,
    split_arrays,
)
from pldt_jax.config import EVAL_METHODS
from pldt_jax.train_step import TrainState
from pldt_jax_datasets.lookbook.pairing import SPLITS


def score(predictions: np.ndarray, truth: np.ndarray, batch_size: int) -> dict[str, float]:
    """Mean per-image RMSE and C-SSIM of uint8 (or [0, 255] float) images, on [0, 1] pixels."""
    rmse, cssim = [], []
    for start in range(0, len(truth), batch_size):
        a = jnp.asarray(predictions[start : start + batch_size], jnp.float32) / 255.0
        b = jnp.asarray(truth[start : start + batch_size], jnp.float32) / 255.0
        rmse.append(np.asarray(metrics.rmse(a, b)))
        cssim.append(np.asarray(metrics.cssim(a, b)))
    rmse, cssim = np.concatenate(rmse), np.concatenate(cssim)
    return {"rmse": float(rmse.mean()), "cssim": float(cssim.mean()), "num_images": len(rmse)}


def product_gallery(split: split_arrays.SplitArrays) -> tuple[np.ndarray, np.ndarray]:
    """The retrieval gallery of a split: its distinct product images (sorted by id) and,
    per example, the row of its true product in them."""
    products = split_arrays.products(split)
    return products.image, np.searchsorted(products.product_id, split.product_id)


def retrieval_results(
    split: split_arrays.SplitArrays,
    queries: np.ndarray | None = None,
    scores: np.ndarray | None = None,
) -> dict[str, float]:
    """Product retrieval accuracy on the split's own products (`metrics.retrieval_accuracy`).

    Either `queries`, images in [0, 255] ranked against the gallery by
    `metrics.retrieval_distances` (one per example, or a single one for all), or `scores`
    (N, G), similarities to the gallery of `product_gallery` (higher = closer). Needs no
    labels. Empty for 'product_to_human', whose targets are not products.
    """
    if split.direction != "human_to_product":
        return {}
    gallery, truth = product_gallery(split)
    if scores is None:
        distances = metrics.retrieval_distances(queries, gallery)
        ranks = metrics.retrieval_ranks(
            np.broadcast_to(distances, (len(truth), len(gallery))), truth
        )
    else:
        ranks = metrics.retrieval_ranks(scores, truth, higher_is_closer=True)
    return metrics.retrieval_accuracy(ranks, len(gallery))


def load_judge(
    config: ml_collections.ConfigDict, catalogue: split_arrays.Products
) -> attribute_classifier.Classifier | None:
    """The attribute judge of the training products `catalogue` (trained once per dataset and
    cached beside it); None when `attribute_classifier_steps` is 0, when nothing is labelled,
    or for 'product_to_human' (it judges product images; the outputs are photos)."""
    if config.attribute_classifier_steps <= 0 or config.dataset.direction != "human_to_product":
        return None
    return attribute_classifier.load_or_train_classifier(
        os.path.join(prepare.get_builder(config).data_dir, "attribute_classifier"),
        catalogue,
        steps=config.attribute_classifier_steps,
    )


def score_answers(
    answers: np.ndarray,
    split: split_arrays.SplitArrays,
    batch_size: int,
    judge: attribute_classifier.Classifier | None = None,
    reference_images: np.ndarray | None = None,
    retrieval_scores: np.ndarray | None = None,
    judge_reference: attributes.Reference | None = None,
) -> dict[str, Any]:
    """Every score of uint8 answers, one per example of the split: RMSE, C-SSIM, retrieval
    (by `retrieval_scores` if given, else by the answers' distance to the split's products)
    and, with a judge, the attribute proxies against `reference_images` (training products;
    or their `judge_reference`, read once by a caller that scores the split again and again)."""
    results = score(answers, split.target, batch_size)
    results["spread_ratio"] = metrics.spread_ratio(answers, split.target)
    if retrieval_scores is None:
        results |= retrieval_results(split, queries=answers)
    else:
        results |= retrieval_results(split, scores=retrieval_scores)
    if judge is not None:
        results |= attributes.proxy_metrics(
            judge, answers, split, reference_images, judge_reference
        )
    return results


def score_converter(
    converter: TrainState,
    split: split_arrays.SplitArrays,
    batch_size: int,
    judge: attribute_classifier.Classifier | None = None,
    reference_images: np.ndarray | None = None,
    judge_reference: attributes.Reference | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """(`score_answers` of the converter's outputs, those uint8 outputs) on a split: the
    scoring of the final evaluation and of the training loop's periodic validation."""
    generated = inference.generate_split(converter, split, batch_size)
    results = score_answers(
        generated, split, batch_size, judge, reference_images, judge_reference=judge_reference
    )
    return results, generated


def mean_target_baseline(
    train: split_arrays.SplitArrays,
    catalogue: split_arrays.Products,
    split: split_arrays.SplitArrays,
    batch_size: int,
) -> tuple[str, dict[str, float]]:
    """The trivial baseline: always answer the mean training target; (its name, its scores).

    Photo to product: the mean of the training products, each once ('mean_product'). Product
    to photo (PLDT Fig. 6): the mean training photo ('mean_photo'). `catalogue` is
    `split_arrays.products(train)`, which the caller already has.
    """
    if train.direction == "human_to_product":
        name, targets = "mean_product", catalogue.image
    else:
        name, targets = "mean_photo", train.photos
    mean = targets.mean(axis=0, dtype=np.float32)
    truth = split.target
    results = score(np.broadcast_to(mean, truth.shape), truth, batch_size)
    # The same mean image asked of the split's products for every photo: its top-k.
    accuracy = retrieval_results(split, queries=mean[None])
    return name, results | {k: v for k, v in accuracy.items() if k.startswith("retrieval_top")}


def write_examples(
    workdir: str | os.PathLike, split: split_arrays.SplitArrays, generated: np.ndarray, count: int
) -> None:
    """The first `count` photos of the split with their outputs, for the results report."""
    path = os.path.join(workdir, "eval", "examples.npz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    examples = split.arrays(slice(0, count))
    np.savez_compressed(
        path,
        image_id=examples["image_id"],
        source=examples["source"],
        target=examples["target"],
        generated=generated[:count],
    )


def write_metrics(workdir: str | os.PathLike, results: dict[str, Any]) -> str:
    path = os.path.join(workdir, "eval", "metrics.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=2)
    os.replace(path + ".tmp", path)
    return path


def evaluate(
    workdir: str | os.PathLike, split_name: str | None = None, method: str | None = None
) -> dict[str, Any]:
    """Scores the latest checkpoint of a run; writes eval/metrics.json and eval/examples.npz.

    `method` (default: the run's `eval_method`) 'retrieval' answers each photo with the
    training product the domain discriminator scores highest, instead of the converter's
    output.
    """
    checkpoint_dir = os.path.join(workdir, "checkpoints")
    device = jax.devices()[0]
    step, converter, config = checkpoints.restore_network(checkpoint_dir, "converter", device)
    split_name = split_name or config.dataset.eval_split
    method = method or config.eval_method
    if split_name not in SPLITS:
        raise errors.Error(f"unknown split {split_name!r}; expected one of {SPLITS}")
    if method not in EVAL_METHODS:
        raise errors.Error(f"unknown evaluation method {method!r}; expected one of {EVAL_METHODS}")
    splits = prepare.load_splits(config, [split_name, "train"])
    split, train = splits[split_name], splits["train"]
    catalogue = split_arrays.products(train)  # The training products, once.
    # The user-study stand-in: only where attributes are known (synthetic LookBook).
    judge = load_judge(config, catalogue)
    if method == "retrieval":
        _, domain, _ = checkpoints.restore_network(checkpoint_dir, "domain", device)
        generated = catalogue.image[retrieval.retrieve(domain, split.source, catalogue.image)]
        # Its retrieval accuracy: the split's products ranked by the same DD-score.
        scores = None
        if split.direction == "human_to_product":
            scores = retrieval.score_matrix(domain, split.source, product_gallery(split)[0])
        results = score_answers(
            generated, split, config.eval_batch_size, judge, catalogue.image, scores
        )
    else:
        results, generated = score_converter(
            converter, split, config.eval_batch_size, judge, catalogue.image
        )
    baseline_name, baseline = mean_target_baseline(train, catalogue, split, config.eval_batch_size)
    write_examples(workdir, split, generated, config.num_eval_examples)
    results |= {
        # A converter run evaluated by retrieval is the retrieval baseline, whatever it trained.
        "method": retrieval.METHOD_NAME if method == "retrieval" else config.name,
        "eval_method": method,
        "split": split_name,
        "step": int(step),
        "baselines": {baseline_name: baseline},
    }
    path = write_metrics(workdir, results)
    retrieval_text = ""
    if "retrieval_top1" in results:
        retrieval_text = (
            f", retrieval top-1 {results['retrieval_top1']:.3f} top-5 "
            f"{results['retrieval_top5']:.3f} of {results['retrieval_gallery_size']} products "
            f"(chance {results['retrieval_chance_top1']:.3f} / "
            f"{results['retrieval_chance_top5']:.3f})"
        )
    logging.info(
        "%s at step %d: RMSE %.4f, C-SSIM %.4f over %d images%s (%s baseline: "
        "RMSE %.4f, C-SSIM %.4f) -> %s",
        split_name,
        step,
        results["rmse"],
        results["cssim"],
        results["num_images"],
        retrieval_text,
        baseline_name.replace("_", "-"),
        baseline["rmse"],
        baseline["cssim"],
        path,
    )
    return results


if __name__ == "__main__":
    from pldt_jax import cli

    flags.DEFINE_string("workdir", None, "Work dir of a training run.", required=True)
    flags.DEFINE_enum("split", None, SPLITS, "Default: the config's eval_split.")
    flags.DEFINE_enum("method", None, EVAL_METHODS, "Default: the config's eval_method.")
    cli.run(lambda argv: evaluate(flags.FLAGS.workdir, flags.FLAGS.split, flags.FLAGS.method))
