"""Pairing and splits: the product split is deterministic, stable and 90/5/5; negatives are
other products of the same split."""

import collections

import pytest

from pldt_jax_datasets.lookbook import pairing


def test_split_is_deterministic_stable_and_90_5_5():
    # Golden values: a change here reshuffles every dataset already built.
    assert [pairing.split_of(pid) for pid in (1, 2, 3, 15, 58, 72)] == [
        "validation",
        "train",
        "train",
        "test",
        "validation",
        "test",
    ]
    splits = [pairing.split_of(pid) for pid in range(100_000)]
    counts = collections.Counter(splits)
    assert abs(counts["train"] / 100_000 - 0.90) < 0.005
    assert abs(counts["validation"] / 100_000 - 0.05) < 0.005
    assert abs(counts["test"] / 100_000 - 0.05) < 0.005
    assert splits[:1000] == [pairing.split_of(pid) for pid in range(1000)]
    assert pairing.split_of(1, seed=1) != pairing.split_of(1) or pairing.split_of(
        2, seed=1
    ) != pairing.split_of(2)


def test_negatives_are_other_products_of_the_split_and_cover_them():
    split_products = [3, 8, 11, 20, 41]
    drawn = collections.defaultdict(set)
    for image_id in range(2000):
        for product_id in split_products:
            negative = pairing.negative_of(image_id, product_id, split_products)
            assert negative != product_id and negative in split_products
            assert negative == pairing.negative_of(image_id, product_id, split_products)
            drawn[product_id].add(negative)
    assert all(drawn[pid] == set(split_products) - {pid} for pid in split_products)
    with pytest.raises(ValueError):
        pairing.negative_of(1, 3, [3])
