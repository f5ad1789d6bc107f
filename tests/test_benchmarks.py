"""Smoke runs of the benchmarks at tiny sizes: step harness, PyTorch twin, convolutions, search,
label probe.

Not timings: they check that the harnesses run end to end and report every field, so the
commands in docs/performance.md and README.md keep working.
"""

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from attribute_toys import toy_products
from PIL import Image

from pldt_jax import train_step
from pldt_jax.config import default_config
from pldt_jax.images import to_float
from pldt_jax.models import Encoder, stage_filters
from pldt_jax_datasets.lookbook import synthetic
from pldt_jax_datasets.lookbook.taxonomy import PATTERNS

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
NHWC = ("NHWC", "HWIO", "NHWC")
TINY = ["--width", "0.03125", "--batch", "4", "--steps", "2", "--warmup", "1"]
POSITIVE = (
    "images_per_s",
    "step_ms_median",
    "cpu_ms_median",
    "peak_memory_bytes",
    "gflop_per_step",
)


@pytest.fixture
def load_benchmark(monkeypatch):
    """Imports a benchmark script as a module (torch_twin imports step_benchmark by name)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def torch():
    """PyTorch on one thread: two OpenMP threads crawl when other processes hold the cores."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def test_step_benchmark_reports_every_field(load_benchmark, tmp_path):
    output = tmp_path / "jax.json"
    load_benchmark("step_benchmark").main(
        [*TINY, "--matmul-size", "256", "--output", str(output), "--profile", str(tmp_path)]
    )
    report = json.loads(output.read_text())
    assert report["environment"]["jax"] == jax.__version__
    assert report["matmul_reference"]["tflops"] > 0
    (row,) = report["results"]
    for key in (*POSITIVE, "compile_s", "achieved_tflops", "fraction_of_matmul_rate"):
        assert row[key] > 0, key
    # XLA also counts elementwise work, so it is above the convolutions and matmuls alone.
    assert row["gflop_per_step"] > row["conv_dot_gflop_per_step"] > 0
    assert row["batch"] == 4 and row["width"] == 0.03125
    # The profile: a trace on disk, every op's time in one kind, convolutions among them.
    profile = row["profile"]
    assert list(Path(profile["trace_dir"]).glob("**/*.xplane.pb"))
    shares = profile["kind_share"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["convolution"] > 0.05
    times = [op["ms_per_run"] for op in profile["top_ops"]]
    assert times == sorted(times, reverse=True) and len(times) == 10
    assert sum(times) < profile["op_ms_per_run"]


def test_profile_names_convolutions_and_matmuls(load_benchmark):
    xla_profile = load_benchmark("xla_profile")

    def conv_then_dot(x, kernel, matrix):
        y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=NHWC)
        return jnp.tanh(y.reshape(-1, y.shape[-1]) @ matrix)

    args = (jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4)), jnp.ones((4, 5)))
    hlo = jax.jit(conv_then_dot).lower(*args).compile().as_text()
    described = xla_profile.describe_ops(hlo).values()
    assert ("convolution", "f32[2,8,8,4] window 3x3") in described
    assert "matmul" in {kind for kind, _ in described}


def test_torch_twin_reports_every_field(load_benchmark, torch, tmp_path):
    output = tmp_path / "torch.json"
    twin = load_benchmark("torch_twin")
    twin.main(
        [*TINY, "--device", "cpu", "--threads", "1", "--formats", "contiguous,channels_last"]
        + ["--output", str(output)]
    )
    report = json.loads(output.read_text())
    assert [row["memory_format"] for row in report["results"]] == ["contiguous", "channels_last"]
    for row in report["results"]:
        assert "error" not in row
        for key in (*POSITIVE, "achieved_tflops"):
            assert row[key] > 0, key
    assert report["flop_counts"]["4"]["flops"] > 0


def test_both_harnesses_time_the_default_as_the_twin_on_request(load_benchmark):
    """The twin has none of the embedded default's extra terms (feature matching, texture,
    the pooled mean-square term) or layers (stage convolutions, resize upsampling), so
    `--as-twin` is how both harnesses time its step alike."""
    step_benchmark = load_benchmark("step_benchmark")
    parser = argparse.ArgumentParser()
    step_benchmark.add_common_arguments(parser)
    synthetic = ["--config", str(BENCHMARKS.parent / "configs" / "synthetic.py")]
    default = step_benchmark.configured(parser.parse_args(synthetic))
    assert default.loss.feature_matching_weight > 0 and default.loss.texture_weight > 0
    assert default.loss.mse_pool > 1
    assert default.model.encoder_stage_convs > 0 and default.model.upsample == "resize"
    twin = step_benchmark.configured(parser.parse_args([*synthetic, "--as-twin"]))
    for group, settings in step_benchmark.TWIN_LACKS.items():
        assert {key: twin[group][key] for key in settings} == settings
    assert twin.loss.mse_weight == default.loss.mse_weight  # The twin has the mean-square term.
    assert twin.model.code_dim == default.model.code_dim


def test_torch_twin_builds_the_discriminators_at_their_own_width(load_benchmark, torch):
    twin = load_benchmark("torch_twin")
    config = default_config()
    config.model.width = 1 / 8
    config.model.discriminator_width = 1 / 16
    converter, real_fake, domain = twin.create_models(config)
    assert converter.encoder[0].out_channels == 16
    assert real_fake.net[0].out_channels == domain.net[0].out_channels == 8


@pytest.mark.parametrize(
    "group, key, value",
    [
        ("loss", "feature_matching_weight", 50.0),
        ("loss", "texture_weight", 3000.0),
        ("loss", "mse_pool", 4),
        ("model", "encoder_stage_convs", 1),
        ("model", "encoder_attention_heads", 4),
        ("model", "upsample", "resize"),
        ("model", "converter", "resnet"),
        ("loss", "candidates", "all"),
        ("dataset", "max_shift", 4),
        ("optimizer", "weight_decay", 1e-4),
    ],
)
def test_torch_twin_refuses_terms_and_layers_it_does_not_have(
    load_benchmark, torch, group, key, value
):
    twin = load_benchmark("torch_twin")
    config = default_config()
    twin.check_config(config)
    config[group][key] = value
    with pytest.raises(ValueError, match=f"{group}.{key}"):
        twin.check_config(config)


def test_torch_twin_has_the_jax_parameter_count(load_benchmark, torch):
    """Same networks: every parameter tensor of the JAX models has a same-sized twin."""
    from pldt_jax import config as config_lib
    from pldt_jax import train_step

    twin = load_benchmark("torch_twin")
    config = config_lib.default_config()
    config.model.width = 0.03125
    states = jax.eval_shape(lambda key: train_step.create_states(config, key, 1), jax.random.key(0))
    for jax_state, torch_model in zip(
        (states.converter, states.real_fake, states.domain), twin.create_models(config), strict=True
    ):
        jax_sizes = sorted(x.size for x in jax.tree.leaves(jax_state.params))
        assert jax_sizes == sorted(p.numel() for p in torch_model.parameters())


def test_flop_counts_agree(load_benchmark, torch):
    """Counted alike (no padding taps), the twin's convolutions and matmuls are the JAX step's."""
    from pldt_jax import config as config_lib

    twin = load_benchmark("torch_twin")
    config = config_lib.default_config()
    config.model.width = 0.03125
    config.model.strided_conv = "native"
    config.batch_size = 2
    counted = twin.count_flops(config, torch.device("cpu"), without_padding=True)
    assert counted["flops"] == twin.conv_dot_flops(config)
    # With padding taps (FlopCounterMode's default) the twin counts more.
    assert twin.count_flops(config, torch.device("cpu"))["flops"] > counted["flops"]


def test_strided_conv_benchmark_times_every_layer(load_benchmark, capsys):
    bench = load_benchmark("strided_conv_cpu")
    bench.main(["--width", "0.03125", "--batch", "2", "--repeats", "1", "--no-torch"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()]
    rows = [[cell.strip() for cell in row] for row in rows if row and row[1].strip() != "---"]
    assert rows[0][:2] == ["layer", "implementation"]
    layers = [row[0] for row in rows[1:]]
    # Four convolutions, the domain discriminator's first, four transposed: each both ways.
    assert len(layers) == 2 * 9 and len(set(layers)) == 9
    assert {row[1] for row in rows[1:]} == {"native", "subpixel"}
    assert all(float(row[2]) >= 0 and float(row[3]) > 0 for row in rows[1:])


def test_search_benchmark_reports_every_figure(load_benchmark, tiny_run, tmp_path, capsys):
    bench = load_benchmark("search_benchmark")
    bench.main(["--workdir", str(tiny_run), "--photos", "2", "--scratch", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    for name in ("test", "train", "folder"):
        catalogue = report[f"catalogue_{name}"]
        assert catalogue["products"] > 0 and catalogue["first_load_s"] > 0
    for name in ("test", "train"):
        assert (
            0
            < report[f"demo_answer_ms_{name}"]["median"]
            <= report[f"demo_answer_ms_{name}"]["p90"]
        )
    found = report["search_all_test_photos"]
    assert found["photos"] == len(list((tmp_path / "photos").iterdir()))
    assert found["by_distance_top1"] == pytest.approx(found["evaluation_retrieval_top1"])
    assert found["by_distance_top5"] == pytest.approx(found["evaluation_retrieval_top5"])


def test_label_probe_reads_labels_the_photos_show(load_benchmark, tmp_path):
    probe = load_benchmark("label_probe")
    rng = np.random.default_rng(0)
    train, test = (probe.Labelled(*toy_products(rng, n)) for n in (96, 64))
    config = default_config()
    config.model.width = 1 / 16
    config.batch_size = 16
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 2e-3
    rows = list(probe.train_probe(config, train, {"test": test, "train": train}, 160, 80, True, 2))
    assert [row["step"] for row in rows] == [80, 160]
    assert all(0 <= row[key] <= 1 for row in rows for key in row if "/" in key)
    # Shape, colour and stripes are plain in the toy shots: far above chance (1/4, 1/4, 1/3).
    for label in ("category", "color", "pattern"):
        assert rows[-1][f"test/{label}"] > 0.6, rows[-1]
        assert rows[-1][f"train/{label}"] >= rows[-1][f"test/{label}"] - 0.1
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        '{"step": 80, "val/cat": 0.5}\n{"step": 160, "val/cat": 0.7}\n'
    )
    probe.plot(rows, str(tmp_path / "probe.png"), [f"{run}=a run"])
    assert Image.open(tmp_path / "probe.png").size[0] > 0
    (run / "metrics.jsonl").write_text('{"step": 80, "train/loss": 1.0}\n')
    with pytest.raises(ValueError, match="no validation Cat"):
        probe.plot(rows, str(tmp_path / "other.png"), [str(run)])


def test_label_probe_learns_the_labels_it_is_given(load_benchmark, tmp_path):
    """One label (`--labels category`): one head, rows and a plot of that label only; a run's
    Cat needs the category panel."""
    probe = load_benchmark("label_probe")
    photos, labels = toy_products(np.random.default_rng(0), 16)
    data = probe.Labelled(photos, {"category": labels["category"]})
    config = default_config()
    config.model.width = 1 / 16
    config.batch_size = 8
    (row,) = probe.train_probe(config, data, {"test": data}, 2, 2, False, 0)
    assert set(row) == {"step", "seconds", "test/category"}
    probe.plot([row], str(tmp_path / "category.png"))
    assert Image.open(tmp_path / "category.png").size[0] > 0
    only_color = [{"step": 2, "test/color": 0.5}]
    with pytest.raises(ValueError, match="did not learn"):
        probe.plot(only_color, str(tmp_path / "color.png"), [str(tmp_path)])


def test_code_probe_reads_labels_from_a_converters_frozen_code(load_benchmark):
    """`--workdir`: linear heads on a converter's codes. Even an untrained converter's random
    features carry the toy shots' plain shapes and colours to unseen shots, far above chance
    (1/4); the codes are the encoder's, in inference mode, one row per photo for either
    converter."""
    probe = load_benchmark("label_probe")
    config = default_config()
    config.model.width = 1 / 16
    converter = train_step.create_states(config, jax.random.key(0), 10).converter
    rng = np.random.default_rng(0)
    train, test = (probe.Labelled(*toy_products(rng, n)) for n in (96, 64))
    codes = probe.converter_codes(converter, test.photos, batch_size=50)
    assert codes.shape == (64, config.model.code_dim)
    variables = {"params": converter.params, "batch_stats": converter.batch_stats}
    direct = Encoder(stage_filters(64, 1 / 16)).apply(
        {key: value["encoder"] for key, value in variables.items()},
        to_float(test.photos[:5]),
        train=False,
    )
    np.testing.assert_allclose(codes[:5], np.asarray(direct), rtol=1e-4, atol=1e-5)
    row = probe.code_probe(converter, train, {"test": test, "train": train}, steps=300)
    assert set(row) == {f"{split}/{label}" for split in ("test", "train") for label in train.labels}
    assert row["test/category"] > 0.5 and row["test/color"] > 0.5, row
    config.model.converter = "resnet"  # Its code is a feature map, flattened.
    residual = train_step.create_states(config, jax.random.key(0), 10).converter
    assert probe.converter_codes(residual, test.photos[:3], batch_size=2).ndim == 2


def test_label_probe_scores_each_pattern_and_either_colour_of_stripes(load_benchmark):
    """`--by-pattern`: `<label>@<pattern>` on the photos of each pattern present; a stripe's
    or check's colour is right when either of its two colours is named, a dot's only when
    its base colour is; the overall colour stays strict."""
    probe = load_benchmark("label_probe")
    solid, stripes, dots = (PATTERNS.index(p) for p in ("solid", "vertical-stripes", "dots"))
    data = probe.Labelled(
        np.zeros((6, 8, 8, 3), np.uint8),
        {"color": np.array([0, 1, 2, 3, 4, 5]), "pattern": np.full(6, solid)},
        {
            "pattern": np.array([solid, solid, stripes, stripes, dots, dots]),
            "pattern_color": np.array([-1, -1, 7, 8, 9, 9]),
        },
    )
    predicted = {"color": np.array([0, 6, 7, 3, 9, 5]), "pattern": np.zeros(6, int)}
    row = probe.accuracies(predicted, data)
    assert row == {
        "color": 0.5,
        "pattern": 1.0,
        "color@solid": 0.5,
        "color@vertical-stripes": 1.0,  # 7 is the first stripe's other colour, 3 the base.
        "color@dots": 0.5,  # 9, the dots' colour, does not count.
        "pattern@solid": 1.0,
        "pattern@vertical-stripes": 1.0,
        "pattern@dots": 1.0,
    }
    assert probe.accuracies(predicted, data._replace(patterns=None)) == {
        "color": 0.5,
        "pattern": 1.0,
    }
    table = probe.pattern_table({"step": 4} | {f"test/{key}": v for key, v in row.items()})
    assert table == [
        {"split": "test", "photos_pattern": "solid", "color": 0.5, "pattern": 1.0},
        {"split": "test", "photos_pattern": "vertical-stripes", "color": 1.0, "pattern": 1.0},
        {"split": "test", "photos_pattern": "dots", "color": 0.5, "pattern": 1.0},
    ]


def test_label_probe_refuses_photos_without_labels(load_benchmark):
    probe = load_benchmark("label_probe")
    photos, labels = toy_products(np.random.default_rng(0), 8)
    labels["pattern"][3] = -1  # What the real LookBook has for every photo.
    with pytest.raises(ValueError, match="1 training photos have no 'pattern' label"):
        next(
            probe.train_probe(default_config(), probe.Labelled(photos, labels), {}, 2, 1, False, 0)
        )
    with pytest.raises(ValueError, match="1 training photos have no 'pattern' label"):
        probe.code_probe(None, probe.Labelled(photos, labels), {})


def test_retrieval_ceiling_scores_shots_drawn_again(load_benchmark):
    """The true shots are found first at C-SSIM 1; every drawing that cannot know the shot's
    framing or the pattern's phase is farther from its product; the rows say how many draws
    each case had, and the split's gallery must be the generator's own shots."""
    ceiling = load_benchmark("retrieval_ceiling")
    products = synthetic.plan("small", seed=0)[:8]
    gallery = ceiling.render(products, 64, ceiling._as_archived, ceiling._as_archived)
    photos = np.arange(1, 9)
    rows = {row["drawing"]: row for row in ceiling.measure(products, gallery, photos, draws=2)}
    assert [row["drawing"] for row in rows.values()] == [case[0] for case in ceiling.CASES]
    true = rows["the true shot"]
    assert (true["top1"], true["top5"], true["draws"]) == (1.0, 1.0, 1)
    assert true["cssim"] == pytest.approx(1.0)
    for name, row in rows.items():
        assert 0 <= row["top1_low"] <= row["top1"] <= row["top1_high"] <= 1
        assert row["top1"] <= row["top5"] <= 1
        if name != "the true shot":
            assert row["cssim"] < 0.95, name
    assert rows["another framing"]["draws"] == 2 and rows["the middle framing"]["draws"] == 1


def test_benchmarks_import_without_tensorflow_datasets():
    """The GPU machines have jax, flax, optax and torch but not tensorflow-datasets."""
    modules = "step_benchmark" + (", torch_twin" if importlib.util.find_spec("torch") else "")
    script = f"""
import importlib.abc, sys
class NoTFDS(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("tensorflow_datasets", "array_record"):
            raise ImportError(name + " is not installed here")
sys.meta_path.insert(0, NoTFDS())
sys.path.insert(0, {str(BENCHMARKS)!r})
import {modules}
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
