"""The attribute proxies on cases with known answers: a trivially learnable toy set, and
Fréchet distances of Gaussians."""

import numpy as np
import pytest
import scipy.linalg

from pldt_jax import attributes, input_pipeline

COLOURS_RGB = np.array([(200, 30, 30), (30, 160, 60), (40, 80, 220), (240, 200, 40)], np.uint8)


def toy_products(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Garment-like 64 px shots on white: category = shape, colour = one of four, pattern =
    solid / stripes / a central logo (a darker shade), at a random offset."""
    labels = {
        "category": rng.integers(0, 4, n),
        "color": rng.integers(0, 4, n),
        "pattern": rng.integers(0, 3, n),
    }
    images = np.full((n, 64, 64, 3), 255, np.uint8)
    yy, xx = np.mgrid[:64, :64]
    for i in range(n):
        dy, dx = rng.integers(-4, 5, 2)
        y, x = yy - 32 - dy, xx - 32 - dx
        category = labels["category"][i]
        if category == 0:  # square
            shape = (abs(y) < 18) & (abs(x) < 18)
        elif category == 1:  # wide bar
            shape = (abs(y) < 9) & (abs(x) < 26)
        elif category == 2:  # tall bar
            shape = (abs(y) < 26) & (abs(x) < 9)
        else:  # plus
            shape = ((abs(y) < 6) & (abs(x) < 24)) | ((abs(y) < 24) & (abs(x) < 6))
        images[i][shape] = COLOURS_RGB[labels["color"][i]]
        pattern = labels["pattern"][i]
        if pattern:
            mark = yy % 12 >= 6 if pattern == 1 else y**2 + x**2 < 7**2
            images[i][shape & mark] = COLOURS_RGB[labels["color"][i]] // 3
    return images, labels


def toy_split(images: np.ndarray, labels: dict[str, np.ndarray]) -> input_pipeline.SplitArrays:
    n = len(images)
    ids = np.arange(n, dtype=np.int64)
    return input_pipeline.load_split(
        input_pipeline.ArraySource(
            source=images,
            target=images,
            negative=images[::-1],
            product_id=ids,
            negative_product_id=ids[::-1],
            image_id=ids,
            category=labels["category"],
            color=labels["color"],
            pattern=labels["pattern"],
            pattern_color=np.full(n, -1),
        )
    )


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    train_images, train_labels = toy_products(rng, 96)
    classifier = attributes.train_classifier(
        train_images,
        train_labels,
        seed=0,
        steps=150,
        batch_size=32,
        net=attributes.AttributeNet(width=8, feature_dim=32),
    )
    return classifier, toy_products(rng, 64)


def test_classifier_reads_true_images_and_not_shuffled_or_blank_ones(trained):
    classifier, (images, labels) = trained
    scores = attributes.attribute_scores(classifier, images, labels)
    assert scores["cat"] == scores["category_accuracy"] >= 0.9
    # Texture is learnt last: 150 steps leave the pattern head short of perfect.
    assert scores["color_accuracy"] >= 0.9 and scores["pattern_accuracy"] >= 0.75
    assert scores["att"] == pytest.approx(
        (scores["color_accuracy"] + scores["pattern_accuracy"]) / 2
    )
    shuffled = {k: np.random.default_rng(1).permutation(v) for k, v in labels.items()}
    assert attributes.attribute_scores(classifier, images, shuffled)["att"] < 0.6
    grey = np.full_like(images, 128)
    assert attributes.attribute_scores(classifier, grey, labels)["cat"] < 0.5


def test_unknown_labels_are_skipped(trained):
    classifier, (images, labels) = trained
    partly = {k: v.copy() for k, v in labels.items()}
    partly["category"][:32] = -1
    partly["pattern"][:] = -1
    scores = attributes.attribute_scores(classifier, images, partly)
    full = attributes.attribute_scores(
        classifier,
        images[32:],
        {
            "category": labels["category"][32:],
            "color": labels["color"][32:],
            "pattern": labels["pattern"][32:],
        },
    )
    assert scores["cat"] == full["cat"]
    assert "pattern_accuracy" not in scores and scores["att"] == scores["color_accuracy"]
    unknown = {k: np.full_like(v, -1) for k, v in labels.items()}
    assert attributes.attribute_scores(classifier, images, unknown) == {}
    assert attributes.proxy_metrics(classifier, images, toy_split(images, unknown), images) == {}


def test_proxy_metrics_of_true_images_reach_the_ceiling(trained):
    classifier, (images, labels) = trained
    split = toy_split(images, labels)
    perfect = attributes.proxy_metrics(classifier, images, split, images[:32])
    assert perfect["cat"] == perfect["cat_ceiling"] and perfect["att"] == perfect["att_ceiling"]
    assert perfect["realism_fd"] == perfect["realism_fd_ceiling"]
    assert perfect["num_labelled"] == len(images)
    blank = attributes.proxy_metrics(classifier, np.full_like(images, 255), split, images[:32])
    assert blank["cat"] < perfect["cat"] and blank["realism_fd"] > 10 * perfect["realism_fd"]
    assert attributes.proxy_metrics(None, images, split, images) == {}


def test_classifier_is_trained_once_and_cached(trained, tmp_path, monkeypatch):
    classifier, (images, labels) = trained
    products = input_pipeline.Products(np.arange(len(images)), images, labels)
    trainings = []

    def train(*args, **kwargs):  # The fixture's classifier stands in for a training.
        trainings.append(kwargs)
        return classifier

    monkeypatch.setattr(attributes, "train_classifier", train)
    first = attributes.load_or_train_classifier(tmp_path, products, net=classifier.net)
    second = attributes.load_or_train_classifier(tmp_path, products, net=classifier.net)
    assert len(trainings) == 1 and len(list(tmp_path.glob("attribute_classifier_*"))) == 1
    assert first is classifier and second is not classifier
    np.testing.assert_array_equal(
        attributes.predict(first, images)[1], attributes.predict(second, images)[1]
    )
    # Other products (here: fewer) get their own classifier; unlabelled ones none.
    fewer = products._replace(image=images[:8], attributes={k: v[:8] for k, v in labels.items()})
    attributes.load_or_train_classifier(tmp_path, fewer, net=classifier.net)
    assert len(trainings) == 2 and len(list(tmp_path.glob("attribute_classifier_*"))) == 2
    unlabelled = products._replace(attributes={k: np.full_like(v, -1) for k, v in labels.items()})
    assert attributes.load_or_train_classifier(tmp_path, unlabelled) is None
    assert len(trainings) == 2


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.default_rng(3).normal(size=(200, 8))
    assert attributes.frechet_distance(features, features) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_of_gaussians_with_shared_axes():
    # N(m_a, Q diag(a) Q^T) vs N(m_b, Q diag(b) Q^T): |m_a - m_b|^2 + sum (sqrt a - sqrt b)^2.
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a, b = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    m_a, m_b = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((m_a - m_b) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = attributes.frechet_distance_from_moments(m_a, q * a @ q.T, m_b, q * b @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)
    # From samples: shifted unit Gaussians are |shift|^2 apart.
    samples = rng.normal(size=(20000, 3))
    shift = np.array([1.0, -2.0, 0.5])
    assert attributes.frechet_distance(samples, rng.normal(size=(20000, 3)) + shift) == (
        pytest.approx(np.sum(shift**2), abs=0.05)
    )


def test_frechet_distance_agrees_with_sqrtm_and_survives_singular_covariances():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    cov_a, cov_b = x @ x.T, y @ y.T
    mean = np.zeros(6)
    reference = np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    got = attributes.frechet_distance_from_moments(mean, cov_a, mean, cov_b)
    assert got == pytest.approx(reference, rel=1e-6)
    few = rng.normal(size=(4, 10))  # Fewer samples than dimensions, one dead unit.
    few[:, 0] = 0
    assert np.isfinite(attributes.frechet_distance(few, few + 1.0))
