"""The attribute judge: it learns a trivially learnable toy set, its colour head reads only its
colour branch, and it is trained once per set of products and cached."""

import attribute_toys
import jax
import numpy as np
import pytest
from attribute_toys import toy_products
from flax import serialization

from pldt_jax import attribute_classifier, attributes, split_arrays


@pytest.fixture(scope="module")
def trained():
    return attribute_toys.trained()


def test_classifier_reads_true_images_and_not_shuffled_or_blank_ones(trained):
    classifier, (images, labels) = trained
    scores = attributes.attribute_scores(classifier, images, labels)
    assert scores["cat"] == scores["category_accuracy"] >= 0.9
    # Texture is learnt last: the pattern head gets a little more slack.
    assert scores["color_accuracy"] >= 0.9 and scores["pattern_accuracy"] >= 0.85
    assert scores["att"] == pytest.approx(
        (scores["color_accuracy"] + scores["pattern_accuracy"]) / 2
    )
    shuffled = {k: np.random.default_rng(1).permutation(v) for k, v in labels.items()}
    assert attributes.attribute_scores(classifier, images, shuffled)["att"] < 0.6
    grey = np.full_like(images, 128)
    assert attributes.attribute_scores(classifier, grey, labels)["cat"] < 0.5


def test_colour_head_reads_only_the_per_pixel_colour_branch():
    net = attribute_classifier.AttributeNet(width=8, feature_dim=16, color_width=8)
    images = np.random.default_rng(2).uniform(size=(4, 64, 64, 3)).astype(np.float32)
    params = net.init(jax.random.key(0), images[:1])["params"]
    logits, features = net.apply({"params": params}, images)
    assert features.shape == (4, 16)
    assert {k: v.shape for k, v in logits.items()} == {
        name: (4, n) for name, n in attribute_classifier.NUM_CLASSES.items()
    }
    # Other weights for the shape branch (3x3 convolutions, feature layer, the other heads):
    # the colour logits stay, the category logits change.
    colour_branch = {"color_pixels_0", "color_pixels_1", "color_garment", "color_hidden", "color"}
    assert colour_branch < set(params)
    shuffled = {
        name: value if name in colour_branch else jax.tree.map(lambda w: w[::-1] + 0.1, value)
        for name, value in params.items()
    }
    other, _ = net.apply({"params": shuffled}, images)
    np.testing.assert_array_equal(other["color"], logits["color"])
    assert not np.allclose(other["category"], logits["category"])
    # The colour branch sees every other pixel, 1x1: the odd rows and columns do not matter.
    moved = images.copy()
    moved[:, 1::2] = 0.0
    moved[:, :, 1::2] = 1.0
    np.testing.assert_allclose(net.apply({"params": params}, moved)[0]["color"], logits["color"])


def test_training_with_fewer_steps_than_the_warmup():
    images, labels = toy_products(np.random.default_rng(6), 8)
    net = attribute_classifier.AttributeNet(width=4, feature_dim=8, color_width=4)
    classifier = attribute_classifier.train_classifier(images, labels, steps=3, net=net)
    assert all(np.isfinite(w).all() for w in jax.tree.leaves(classifier.params))


def test_classifier_is_trained_once_and_cached(trained, tmp_path, monkeypatch):
    classifier, (images, labels) = trained
    products = split_arrays.Products(np.arange(len(images)), images, labels)
    trainings = []

    def train(*args, **kwargs):  # The fixture's classifier stands in for a training.
        trainings.append(kwargs)
        return classifier

    monkeypatch.setattr(attribute_classifier, "train_classifier", train)
    first = attribute_classifier.load_or_train_classifier(tmp_path, products, net=classifier.net)
    second = attribute_classifier.load_or_train_classifier(tmp_path, products, net=classifier.net)
    assert len(trainings) == 1 and len(list(tmp_path.glob("attribute_classifier_*"))) == 1
    assert first is classifier and second is not classifier
    np.testing.assert_array_equal(
        attribute_classifier.predict(first, images)[1],
        attribute_classifier.predict(second, images)[1],
    )
    # Other products (here: fewer) get their own classifier; unlabelled ones none.
    fewer = products._replace(image=images[:8], attributes={k: v[:8] for k, v in labels.items()})
    attribute_classifier.load_or_train_classifier(tmp_path, fewer, net=classifier.net)
    assert len(trainings) == 2 and len(list(tmp_path.glob("attribute_classifier_*"))) == 2
    unlabelled = products._replace(attributes={k: np.full_like(v, -1) for k, v in labels.items()})
    assert attribute_classifier.load_or_train_classifier(tmp_path, unlabelled) is None
    assert len(trainings) == 2


def test_a_cached_classifier_that_does_not_fit_the_network_is_retrained(
    trained, tmp_path, monkeypatch
):
    """A cache file of another network under the same name (its code changed, its repr did
    not) is not loaded into the wrong layers: the judge is trained again."""
    classifier, (images, labels) = trained
    products = split_arrays.Products(np.arange(len(images)), images, labels)
    trainings = []
    monkeypatch.setattr(
        attribute_classifier, "train_classifier", lambda *a, **k: trainings.append(k) or classifier
    )
    attribute_classifier.load_or_train_classifier(tmp_path, products, net=classifier.net)
    (path,) = tmp_path.glob("attribute_classifier_*")
    stale = dict(classifier.params)
    stale.pop(sorted(stale)[0])
    path.write_bytes(serialization.to_bytes(stale))
    reloaded = attribute_classifier.load_or_train_classifier(tmp_path, products, net=classifier.net)
    assert len(trainings) == 2 and reloaded is classifier
    assert (
        attribute_classifier.load_or_train_classifier(tmp_path, products, net=classifier.net)
        is not None
    )
    assert len(trainings) == 2  # The retrained judge replaced the stale file.
