"""The PLDT training step in PyTorch, timed like `step_benchmark.py`, and a FLOP check against XLA.

Why: a reference for the JAX step's speed on the same machine. The twin has the same three
networks (PLDT Table 1 times --width, N(0, 0.02) init) and the same update as `pldt_jax.train_step`:
each sample's candidate drawn from {associated, irrelevant, generated}; the converter runs
forward once, its output detached for the real/fake and then the domain discriminator update
(BCE with logits); then the converter's update against the updated discriminators with the
non-saturating loss weighted 0.5/0.5, their batch statistics used but not kept. Optimizers:
SGD momentum 0.5 (the paper) or Adam betas (0.5, 0.999), lr 2e-4.

Differences that do not change the cost: NCHW layout (or channels_last), and
`ConvTranspose2d(padding=2, output_padding=1)` aligns its 5x5 kernel one pixel off JAX's 'SAME'
transposed convolution.

Timing as step_benchmark.py: the median of --steps synchronised steps; the first step, timed
apart (it includes torch.compile's work), counts as one of --warmup. The FLOP count is
`torch.utils.flop_counter.FlopCounterMode` over one eager step (convolutions and matmuls only);
--compare-xla puts the JAX step's counts beside it. --threads sets torch's CPU threads.

    python benchmarks/torch_twin.py --config configs/synthetic.py --as-twin \
        --formats contiguous,channels_last
    python benchmarks/torch_twin.py --modes eager,compile --dtypes float32,bfloat16   # on a GPU
    python benchmarks/torch_twin.py --config configs/synthetic.py --as-twin \
        --steps 1 --compare-xla
"""

import argparse
import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import ml_collections
import torch
from step_benchmark import (
    IMAGE_KEYS,
    TWIN_LACKS,
    add_common_arguments,
    batch_sizes,
    case_fields,
    configured,
    conv_dot_flops,
    environment,
    format_table,
    load_average,
    random_batch,
    rss_peak_bytes,
    split_list,
    step_seconds,
    timing_summary,
    write_json,
    xla_flops,
)
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from pldt_jax.models import discriminator_width

ASSOCIATED, IRRELEVANT, GENERATED = 0, 1, 2
LEAK = 0.2
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def stage_filters(resolution: int, width: float) -> list[int]:
    """Filters of the stride-2 stages, image side first, as `pldt_jax.models.stage_filters`."""
    filters = [128, 256, 512, 1024] if resolution == 64 else [64, 128, 256, 512, 1024]
    return [max(1, round(f * width)) for f in filters]


def conv_trunk(in_channels: int, filters: Sequence[int]) -> list[nn.Module]:
    """Conv. 1-4 of Table 1(a): 5x5 stride 2 pad 2, batch norm on all but the first."""
    layers: list[nn.Module] = []
    for i, features in enumerate(filters):
        layers.append(nn.Conv2d(in_channels, features, 5, 2, 2, bias=i == 0))
        if i > 0:
            layers.append(nn.BatchNorm2d(features))
        layers.append(nn.LeakyReLU(LEAK, inplace=True))
        in_channels = features
    return layers


def up_conv(in_channels: int, out_channels: int, bias: bool) -> nn.ConvTranspose2d:
    """A Table 1(b) F-Conv: 5x5, stride 1/2, exactly doubling the map."""
    return nn.ConvTranspose2d(in_channels, out_channels, 5, 2, 2, output_padding=1, bias=bias)


class Converter(nn.Module):
    """Encoder (Table 1(a), 4x4 valid last conv to the 64-d code) + decoder (Table 1(b))."""

    def __init__(self, filters: Sequence[int], code_dim: int) -> None:
        super().__init__()
        self.deepest = filters[-1]
        self.encoder = nn.Sequential(
            *conv_trunk(3, filters),
            nn.Conv2d(filters[-1], code_dim, 4, bias=False),
            nn.BatchNorm2d(code_dim),
            nn.LeakyReLU(LEAK, inplace=True),
            nn.Flatten(),
        )
        # Conv. 1 of Table 1(b): the 1x1x64 code to 4x4x1024, a dense layer.
        self.project = nn.Linear(code_dim, 16 * filters[-1], bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(filters[-1]), nn.ReLU(inplace=True)]
        channels = list(reversed(filters))
        for cin, cout in zip(channels[:-1], channels[1:], strict=True):
            layers += [up_conv(cin, cout, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        layers += [up_conv(filters[0], 3, bias=True), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        code = self.project(self.encoder(source))
        return self.decoder(code.view(-1, self.deepest, 4, 4))


class Discriminator(nn.Module):
    """Real/fake (3 channels) or domain (6 channels) discriminator: one logit per image."""

    def __init__(self, in_channels: int, filters: Sequence[int]) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *conv_trunk(in_channels, filters), nn.Conv2d(filters[-1], 1, 4), nn.Flatten(0)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def init_weights(module: nn.Module) -> None:
    """Table 1's N(0, 0.02) weights, zero biases, batch norm scale N(1, 0.02) (as the JAX code)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
        module.momentum = 0.1  # Flax's momentum 0.9 in PyTorch's convention.


def create_models(config: ml_collections.ConfigDict) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(converter, real/fake discriminator, domain discriminator), initialised."""
    filters = stage_filters(config.resolution, config.model.width)
    judged = stage_filters(config.resolution, discriminator_width(config.model))
    models = (
        Converter(filters, config.model.code_dim),
        Discriminator(3, judged),
        Discriminator(6, judged),
    )
    for model in models:
        model.apply(init_weights)
    return models


def create_optimizer(config: ml_collections.ConfigDict, model: nn.Module) -> torch.optim.Optimizer:
    opt = config.optimizer
    if opt.name == "sgd":
        return torch.optim.SGD(model.parameters(), opt.learning_rate, momentum=opt.momentum)
    if opt.name == "adam":
        return torch.optim.Adam(model.parameters(), opt.learning_rate, betas=(opt.momentum, 0.999))
    raise ValueError(f"unknown optimizer {opt.name!r}; expected 'sgd' or 'adam'")


def check_config(config: ml_collections.ConfigDict) -> None:
    """The twin implements the paper's losses (plus the optional mean-square term), Algorithm 1's
    sampled candidates, Table 1's layers and no jitter or weight decay; other settings would
    time another step."""
    loss = config.loss
    if not (
        loss.real_fake_weight > 0
        and loss.domain_weight > 0
        and loss.use_negatives
        and loss.converter_loss == "non_saturating"
    ):
        raise ValueError(f"the twin implements the default losses only, got {loss}")
    missing = [
        f"{group}.{key}={config[group][key]!r}"
        for group, settings in TWIN_LACKS.items()
        for key, off in settings.items()
        if config[group][key] != off
    ]
    if missing:
        missing_text = ", ".join(missing)
        raise ValueError(f"the twin has no {missing_text}; time both harnesses with --as-twin")


@contextlib.contextmanager
def statistics_discarded(*models: nn.Module) -> Iterator[None]:
    """Batch statistics in training mode, running averages restored afterwards (as train_step)."""
    buffers = [b for model in models for b in model.buffers()]
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved, strict=True):
                buffer.copy_(value)


class TwinStep:
    """Models, optimizers and one call = one training step on a uint8 NHWC batch."""

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        device: torch.device,
        mode: str = "eager",
        memory_format: str = "contiguous",
        dtype: str = "float32",
    ) -> None:
        check_config(config)
        torch.manual_seed(config.seed)
        self.device = device
        self.memory_format = MEMORY_FORMATS[memory_format]
        self.dtype = DTYPES[dtype]
        models = [m.to(device, memory_format=self.memory_format) for m in create_models(config)]
        self.optimizers = [create_optimizer(config, m) for m in models]
        if mode == "compile":
            models = [torch.compile(m) for m in models]
        elif mode != "eager":
            raise ValueError(f"mode must be 'eager' or 'compile', got {mode!r}")
        self.converter, self.real_fake, self.domain = models
        self.rf_weight = float(config.loss.real_fake_weight)
        self.domain_weight = float(config.loss.domain_weight)
        self.mse_weight = float(config.loss.mse_weight)

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC [0, 255] -> float NCHW [-1, 1], on the device as the JAX step."""
        x = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return x.contiguous(memory_format=self.memory_format)

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(
            self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32
        )

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        source, target, negative = (self.to_float(batch[k]) for k in IMAGE_KEYS)
        choice = torch.randint(0, 3, (source.shape[0],), device=self.device)
        pick = choice.view(-1, 1, 1, 1)
        opt_converter, opt_real_fake, opt_domain = self.optimizers

        with self.autocast():
            generated = self.converter(source)
        candidate = torch.where(
            pick == ASSOCIATED,
            target,
            torch.where(pick == IRRELEVANT, negative, generated.detach().to(target.dtype)),
        )
        bce = F.binary_cross_entropy_with_logits

        with self.autocast():
            rf_logits = self.real_fake(candidate)
        rf_loss = bce(rf_logits.float(), (choice != GENERATED).float())
        opt_real_fake.zero_grad(set_to_none=True)
        rf_loss.backward()
        opt_real_fake.step()

        with self.autocast():
            domain_logits = self.domain(torch.cat([source, candidate], 1))
        domain_loss = bce(domain_logits.float(), (choice == ASSOCIATED).float())
        opt_domain.zero_grad(set_to_none=True)
        domain_loss.backward()
        opt_domain.step()

        # Against the updated discriminators; only the converter's parameters get gradients.
        # (Batch norm's backward saves the running averages, so they are restored after it.)
        with statistics_discarded(self.real_fake, self.domain):
            with self.autocast():
                image = generated.to(source.dtype)
                rf_logits = self.real_fake(image).float()
                domain_logits = self.domain(torch.cat([source, image], 1)).float()
            ones = torch.ones_like(rf_logits)
            converter_loss = self.rf_weight * bce(rf_logits, ones) + self.domain_weight * bce(
                domain_logits, ones
            )
            if self.mse_weight > 0:
                converter_loss = converter_loss + self.mse_weight * F.mse_loss(
                    image.float(), target
                )
            opt_converter.zero_grad(set_to_none=True)
            converter_loss.backward(inputs=list(opt_converter.param_groups[0]["params"]))
        opt_converter.step()
        return {
            "d_real_fake_loss": rf_loss.detach(),
            "d_domain_loss": domain_loss.detach(),
            "converter_loss": converter_loss.detach(),
        }


def torch_batch(config: ml_collections.ConfigDict, device: torch.device) -> dict[str, torch.Tensor]:
    """The same random uint8 NHWC images as the JAX harness, on the device."""
    arrays = random_batch(config.batch_size, config.resolution)
    return {key: torch.from_numpy(value).to(device) for key, value in arrays.items()}


def select_device(name: str | None = None) -> torch.device:
    """`name` (cpu, cuda), default cuda where there is one; on a GPU, cuDNN's autotuner (the
    shapes are fixed) and TF32 matmuls, XLA's default precision there."""
    device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    return device


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def torch_environment(device: torch.device) -> dict[str, Any]:
    """`environment()` with the torch side: version, device, threads."""
    return environment() | {
        "torch": torch.__version__,
        "device": device_name(device),
        "torch_threads": torch.get_num_threads(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _valid_pairs(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    out_shape: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
) -> int:
    """(position, kernel tap) pairs of a convolution that involve no padding.

    Regular: output o and tap t read input o*s - p + t*d. Transposed: input i and tap t write
    output i*s - p + t*d. A pair counts if that index lies inside the input (output).
    """
    pairs = 1
    for dim, (x, k, out) in enumerate(zip(x_shape[2:], w_shape[2:], out_shape[2:], strict=True)):
        positions, limit = (x, out) if transposed else (out, x)
        pairs *= sum(
            0 <= j * stride[dim] - padding[dim] + t * dilation[dim] < limit
            for j in range(positions)
            for t in range(k)
        )
    return pairs


def _conv_flops_without_padding(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    _bias: Any,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    *args: Any,
    out_shape: Sequence[int],
    **kwargs: Any,
) -> int:
    """FlopCounterMode's convolution formula with padding taps left out (as XLA counts)."""
    pairs = _valid_pairs(x_shape, w_shape, out_shape, stride, padding, dilation, transposed)
    return 2 * x_shape[0] * w_shape[0] * w_shape[1] * pairs


def _conv_backward_flops_without_padding(
    grad_out_shape: Sequence[int],
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    _bias: Any,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    _output_padding: Any,
    _groups: int,
    output_mask: Sequence[bool],
    **kwargs: Any,
) -> int:
    """Each gradient asked for (input, weight) costs what the forward convolution does."""
    forward = _conv_flops_without_padding(
        x_shape, w_shape, None, stride, padding, dilation, transposed, out_shape=grad_out_shape
    )
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def count_flops(
    config: ml_collections.ConfigDict, device: torch.device, without_padding: bool = False
) -> dict[str, Any]:
    """FLOPs of one eager float32 step by FlopCounterMode (convolutions and matmuls), in total
    and per operator; `without_padding` leaves the taps on padding out, as XLA does."""
    aten = torch.ops.aten
    mapping = (
        {
            aten.convolution: _conv_flops_without_padding,
            aten.convolution_backward: _conv_backward_flops_without_padding,
        }
        if without_padding
        else {}
    )
    twin = TwinStep(config, device)
    batch = torch_batch(config, device)
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        twin(batch)
    per_op = {str(op): int(n) for op, n in counter.get_flop_counts()["Global"].items()}
    return {"flops": int(counter.get_total_flops()), "per_op": per_op}


def benchmark_variant(
    config: ml_collections.ConfigDict,
    device: torch.device,
    variant: dict[str, str],
    steps: int,
    warmup: int,
    flops: float,
) -> dict[str, Any]:
    """Times one (mode, memory format, dtype) variant; a failure (e.g. no compiler) is reported."""
    row: dict[str, Any] = variant | case_fields(config, steps, warmup)
    row["load_average_before"] = load_average()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    twin = TwinStep(config, device, **variant)
    batch = torch_batch(config, device)

    def run_step(_: int) -> None:
        twin(batch)
        synchronize(device)

    try:
        start = time.perf_counter()
        run_step(0)
        row["first_step_s"] = time.perf_counter() - start
        timings = timing_summary(
            *step_seconds(run_step, steps, max(warmup - 1, 0)), config.batch_size
        )
    except Exception as error:  # torch.compile fails in many ways (no toolchain, unsupported op).
        row["error"] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
        return row
    if device.type == "cuda":
        memory, kind = torch.cuda.max_memory_allocated(device), "torch.cuda.max_memory_allocated"
    else:
        memory, kind = rss_peak_bytes(), "host RSS peak (whole process)"
    return row | {
        **timings,
        "gflop_per_step": flops / 1e9,
        "achieved_tflops": flops / timings["step_ms_median"] / 1e9,
        "peak_memory_bytes": memory,
        "peak_memory_kind": kind,
        "load_average_after": load_average(),
    }


COLUMNS = (
    ("mode", "mode"),
    ("memory_format", "memory format"),
    ("dtype", "dtype"),
    ("width", "width"),
    ("batch", "batch"),
    ("images_per_s", "images/s"),
    ("step_ms_median", "step ms (median)"),
    ("cpu_ms_median", "CPU ms"),
    ("first_step_s", "first step s"),
    ("achieved_tflops", "TFLOP/s (FlopCounter)"),
    ("peak_memory_mib", "peak MiB"),
    ("load", "load 1-min before/after"),
    ("error", "error"),
)


def flop_check(
    config: ml_collections.ConfigDict,
    device: torch.device,
    torch_flops: dict[str, Any],
    strided_convs: Sequence[str],
) -> list[dict[str, Any]]:
    """The twin's FlopCounterMode counts (with and without padding taps) beside the JAX step's
    per strided-conv implementation: its jaxpr's convolutions and matmuls (without padding taps)
    and XLA's cost analysis (all ops). Ratios are to the like-for-like count, the twin's
    without padding taps."""
    reference = count_flops(config, device, without_padding=True)["flops"]
    rows = [
        {"source": "torch FlopCounterMode: convs + matmuls", "flops": torch_flops["flops"]},
        {
            "source": "torch FlopCounterMode: convs + matmuls, padding taps left out",
            "flops": reference,
        },
    ]
    for strided_conv in strided_convs:
        case = config.copy_and_resolve_references()
        case.model.strided_conv = strided_conv
        case.model.dtype = "float32"
        rows += [
            {
                "source": f"JAX {strided_conv}: jaxpr convs + matmuls, padding taps left out",
                "flops": conv_dot_flops(case),
            },
            {"source": f"JAX {strided_conv}: XLA cost analysis, all ops", "flops": xla_flops(case)},
        ]
    return [row | {"gflop": row["flops"] / 1e9, "ratio": row["flops"] / reference} for row in rows]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--modes", default="eager", help="comma-separated: eager, compile")
    parser.add_argument(
        "--formats", default="contiguous", help="comma-separated: contiguous, channels_last"
    )
    parser.add_argument(
        "--dtypes", default="float32", help="comma-separated: float32, bfloat16 (autocast)"
    )
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument(
        "--compare-xla",
        nargs="?",
        const="native,subpixel",
        help="also print XLA's FLOPs of the JAX step for these strided-conv implementations",
    )
    args = parser.parse_args(argv)

    config = configured(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    name = device_name(device)
    print(
        f"torch {torch.__version__} on {name} ({torch.get_num_threads()} threads); "
        f"load average {load_average()}"
    )
    variants = [
        {"mode": mode, "memory_format": fmt, "dtype": dtype}
        for mode in split_list(args.modes)
        for fmt in split_list(args.formats)
        for dtype in split_list(args.dtypes)
    ]
    rows, flop_counts, checks = [], {}, {}
    for batch in batch_sizes(args, config):
        case = config.copy_and_resolve_references()
        case.batch_size = batch
        flop_counts[batch] = count_flops(case, device)
        for variant in variants:
            rows.append(
                benchmark_variant(
                    case, device, variant, args.steps, args.warmup, flop_counts[batch]["flops"]
                )
            )
            row = rows[-1]
            print(f"  {variant} batch {batch}: {row.get('images_per_s', row.get('error'))}")
        if args.compare_xla:
            checks[batch] = flop_check(
                case, device, flop_counts[batch], split_list(args.compare_xla)
            )
    print()
    print(
        format_table(
            [
                row
                | {
                    "peak_memory_mib": row.get("peak_memory_bytes", 0) / 2**20 or None,
                    "load": f"{row['load_average_before'][0]}/"
                    f"{row.get('load_average_after', ['-'])[0]}",
                }
                for row in rows
            ],
            COLUMNS,
        )
    )
    for batch, check in checks.items():
        print(f"\nFLOPs per step, batch {batch}:")
        print(format_table(check, (("source", "count"), ("gflop", "GFLOP"), ("ratio", "ratio"))))
    report = {
        "harness": "torch",
        "environment": torch_environment(device),
        "flop_counts": {str(b): c for b, c in flop_counts.items()},
        "flop_check": {str(b): c for b, c in checks.items()},
        "results": rows,
    }
    write_json(args.output, report)
    return report


if __name__ == "__main__":
    main()
