"""The attribute proxies on cases with known answers: a trivially learnable toy set, and
Fréchet distances of Gaussians."""

import attribute_toys
import numpy as np
import pytest
import scipy.linalg
from attribute_toys import toy_split

from pldt_jax import attributes
from pldt_jax_datasets.lookbook.taxonomy import PATTERNS


@pytest.fixture(scope="module")
def trained():
    return attribute_toys.trained()


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


def test_proxy_metrics_with_the_reference_read_once_are_the_same(trained, monkeypatch):
    classifier, (images, labels) = trained
    split = toy_split(images, labels)
    blurry = images // 2 + 100
    direct = attributes.proxy_metrics(classifier, blurry, split, images[:32])
    reference = attributes.read_reference(classifier, split, images[:32])
    read = []
    predict = attributes.predict
    monkeypatch.setattr(attributes, "predict", lambda c, x: read.append(len(x)) or predict(c, x))
    assert attributes.proxy_metrics(classifier, blurry, split, None, reference) == direct
    assert read == [len(blurry)]  # Only the generated images are read again.


SOLID, H_STRIPES, V_STRIPES, DOTS, CHECKS, LOGO = (
    PATTERNS.index(p)
    for p in ("solid", "horizontal-stripes", "vertical-stripes", "dots", "checks", "logo")
)
# Hand-made labels and colour predictions where the strict and the unordered score differ.
# Per row: pattern, base colour, pattern colour, predicted colour, counts strict, unordered.
COLOUR_CASES = [
    (H_STRIPES, 3, 7, 7, False, True),  # Stripes read as their pattern colour.
    (V_STRIPES, 1, 0, 1, True, True),  # Stripes read as their base colour.
    (CHECKS, 5, 8, 8, False, True),  # Checks read as their pattern colour.
    (CHECKS, 5, 8, 11, False, False),  # Neither colour of the checks.
    (SOLID, 2, 4, 4, False, False),  # A solid garment's pattern_color label is not on it.
    (DOTS, 6, 1, 1, False, False),  # Dots: the base colour dominates.
    (LOGO, 9, 0, 0, False, False),  # A logo is one small mark.
    (H_STRIPES, 3, -1, 7, False, False),  # Unknown pattern colour: base colour only.
    (-1, 4, 6, 6, False, False),  # Unknown pattern: base colour only.
    (H_STRIPES, -1, 2, 2, False, False),  # Unknown base colour: not scored at all.
]


def colour_cases() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Labels, predictions (category and pattern right but for the fourth row's pattern) and
    which rows count, bool (N, 2): strict, unordered."""
    pattern, color, pattern_color, predicted_color, strict, unordered = (
        np.array(column) for column in zip(*COLOUR_CASES, strict=True)
    )
    n = len(COLOUR_CASES)
    labels = {
        "category": np.arange(n) % 4,
        "color": color,
        "pattern": pattern,
        "pattern_color": pattern_color,
    }
    predicted = {
        "category": labels["category"].copy(),
        "color": predicted_color,
        "pattern": np.where(np.arange(n) == 3, SOLID, np.maximum(pattern, 0)),
    }
    return labels, predicted, np.stack([strict, unordered], axis=1)


def test_colour_pair_of_shared_area_patterns_is_scored_unordered(monkeypatch):
    labels, predicted, counts = colour_cases()
    scored = labels["color"] >= 0
    # 9 known colours: strict 1 right, unordered 3; 9 known patterns, 8 right.
    assert counts[scored].sum(0).tolist() == [1, 3] and scored.sum() == 9
    images = np.zeros((len(labels["color"]), 8, 8, 3), np.uint8)
    monkeypatch.setattr(
        attributes, "predict", lambda classifier, images: (predicted, np.zeros((len(images), 2)))
    )
    scores = attributes.attribute_scores(None, images, labels)
    assert scores["color_accuracy_strict"] == pytest.approx(1 / 9)
    assert scores["color_accuracy"] == pytest.approx(3 / 9)
    assert scores["pattern_accuracy"] == pytest.approx(8 / 9)
    assert scores["att_strict"] == pytest.approx((1 / 9 + 8 / 9) / 2)
    assert scores["att"] == pytest.approx((3 / 9 + 8 / 9) / 2)
    assert scores["cat"] == 1.0
    # Row by row: each case alone scores what its row says.
    for row in np.flatnonzero(scored):
        one = attributes.attribute_scores(
            None, images, {k: np.where(np.arange(len(v)) == row, v, -1) for k, v in labels.items()}
        )
        assert [one["color_accuracy_strict"], one["color_accuracy"]] == counts[row].tolist(), row
    # Without pattern colours (labels lacking the key, or all -1) the two scores agree.
    for missing in (
        {k: v for k, v in labels.items() if k != "pattern_color"},
        labels | {"pattern_color": np.full_like(labels["pattern_color"], -1)},
    ):
        scores = attributes.attribute_scores(None, images, missing)
        assert scores["color_accuracy"] == scores["color_accuracy_strict"] == pytest.approx(1 / 9)
        assert scores["att"] == scores["att_strict"]


def test_proxy_metrics_report_the_unordered_and_the_strict_scores(monkeypatch):
    labels, predicted, _ = colour_cases()
    n = len(labels["color"])

    def predict(classifier, images):
        """A judge that reads its answers off the first pixel (colour, pattern, category)."""
        first = images[:, 0, 0].astype(int)
        classes = {"color": first[:, 0], "pattern": first[:, 1], "category": first[:, 2]}
        return classes, images.reshape(len(images), -1)[:, :4].astype(float) + np.arange(4)

    def encode(classes):
        images = np.zeros((n, 8, 8, 3), np.uint8)
        images[:, 0, 0] = np.stack(
            [classes["color"], classes["pattern"], classes["category"]], axis=1
        )
        images[:, 1, 1] = np.arange(n)[:, None]  # Distinct features for the FD.
        return images

    monkeypatch.setattr(attributes, "predict", predict)
    generated = encode(predicted)
    # The true products read as the truth, but every striped one as its pattern colour.
    read_as_pattern = np.isin(labels["pattern"], [H_STRIPES, V_STRIPES]) & (
        labels["pattern_color"] >= 0
    )
    target = encode(
        {
            "category": labels["category"],
            "color": np.where(
                read_as_pattern, labels["pattern_color"], np.maximum(labels["color"], 0)
            ),
            "pattern": np.maximum(labels["pattern"], 0),
        }
    )
    results = attributes.proxy_metrics(
        "judge", generated, toy_split(generated, labels, target), target
    )
    assert results["att"] == pytest.approx((3 / 9 + 8 / 9) / 2)
    assert results["att_strict"] == pytest.approx((1 / 9 + 8 / 9) / 2)
    assert results["color_accuracy"] == pytest.approx(3 / 9)
    assert results["color_accuracy_strict"] == pytest.approx(1 / 9)
    # Ceiling: rows 0 and 1 (stripes) are read as the pattern colour: strict 7/9, unordered 1.
    assert results["att_ceiling"] == pytest.approx(1.0)
    assert results["att_strict_ceiling"] == pytest.approx((7 / 9 + 1) / 2)
    assert results["cat"] == results["cat_ceiling"] == 1.0
    assert results["num_labelled"] == n


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
