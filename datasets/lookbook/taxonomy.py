"""The attribute labels of LookBook products: their names, and the table that gives them.

The synthetic LookBook draws every product's category, colour, pattern and pattern colour
from these names and writes them to `lookbook_attributes.csv`; the builder reads such a table,
when there is one beside an archive, as integer labels (indices into these names, -1 when
unknown); the attribute judge (`pldt_jax.attribute_classifier`) has a head per name list.
"""

from __future__ import annotations

import collections
import csv
from pathlib import Path

from pldt_jax_datasets.lookbook.skip_report import SkipReport

# The labels of every example, in this order; each an index into the names below (or -1).
ATTRIBUTES = ("category", "color", "pattern", "pattern_color")
UNKNOWN_ATTRIBUTE = -1
# The table of labels per product, looked for beside the archive.
ATTRIBUTES_FILENAME = "lookbook_attributes.csv"

CATEGORIES: tuple[str, ...] = ("t-shirt", "long-sleeve", "sleeveless", "hooded-zip-jacket")
COLOR_RGB: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("black", (35, 35, 38)),
    ("white", (240, 240, 236)),
    ("grey", (140, 140, 145)),
    ("red", (200, 35, 40)),
    ("orange", (240, 130, 30)),
    ("yellow", (245, 210, 50)),
    ("green", (40, 140, 70)),
    ("blue", (40, 100, 210)),
    ("navy", (25, 40, 90)),
    ("purple", (120, 60, 160)),
    ("pink", (240, 150, 185)),
    ("brown", (120, 75, 45)),
)
COLORS: tuple[str, ...] = tuple(name for name, _ in COLOR_RGB)
PATTERNS: tuple[str, ...] = (
    "solid",
    "horizontal-stripes",
    "vertical-stripes",
    "dots",
    "checks",
    "logo",
)


def read_attributes(path: Path, report: SkipReport) -> dict[int, tuple[int, ...]]:
    """Product id -> (category, color, pattern, pattern_color) from an optional CSV."""
    if not path.is_file():
        return {}
    try:
        rows = _attribute_rows(path, report)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        report.add("unreadable attributes file", path.name, str(error))
        return {}
    attributes = {}
    for product_id, values in rows.items():
        if len(values) == 1:
            attributes[product_id] = values[0]
        else:
            report.add("product with several attribute rows", f"{path.name}: {product_id}")
    return attributes


def _attribute_rows(path: Path, report: SkipReport) -> dict[int, list[tuple[int, ...]]]:
    rows = collections.defaultdict(list)
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = {"product_id", *ATTRIBUTES} - set(reader.fieldnames or ())
        if missing:
            report.add("attributes file without needed columns", path.name, str(sorted(missing)))
            return rows
        for line, row in enumerate(reader, start=2):
            try:
                rows[int(row["product_id"])].append(tuple(int(row[key]) for key in ATTRIBUTES))
            except (TypeError, ValueError):
                report.add("bad attributes row", f"{path.name}:{line}")
    return rows
