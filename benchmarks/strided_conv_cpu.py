"""Times every strided convolution of the PLDT step, per implementation, against PyTorch.

Why: XLA's CPU backend computes some gradients of strided convolutions tens of times slower than
their forward pass (the evidence behind `strided_conv='auto'`), and its stride-1 convolutions are
slower than oneDNN's at these small sizes (where the rest of the CPU gap to the twin lies).

For each 5x5 stride-2 layer of Table 1 at --width (the encoder's and discriminators'
convolutions, 64->32->16->8->4 px, the domain discriminator's 6-channel first layer, and the
decoder's transposed convolutions 4->8->16->32->64 px), it prints the median over --repeats runs
(after a warm-up; implementations interleaved so that load from other processes hits them alike)
of the jitted forward pass and of forward+backward (gradients w.r.t. input, kernel and bias).
With PyTorch installed it adds `nn.Conv2d(k=5, stride=2, padding=2)` /
`nn.ConvTranspose2d(k=5, stride=2, padding=2, output_padding=1)` on the same shapes (float32,
contiguous and channels_last).

    python benchmarks/strided_conv_cpu.py --width 0.125 --batch 32 --repeats 20
"""

import argparse
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from pldt_jax.layers import DownConv, UpConv
from pldt_jax.models import stage_filters

Case = tuple[str, str, int, int, int]  # (name, 'down' or 'up', input size, in ch., out ch.)


def step_cases(width: float) -> list[Case]:
    """The strided layers of the 64 px networks at `width`, from the image side."""
    filters = stage_filters(64, width)
    sizes = (64, 32, 16, 8)
    down = [
        (f"conv {s}->{s // 2}px {ci}->{co}", "down", s, ci, co)
        for s, ci, co in zip(sizes, (3, *filters[:-1]), filters, strict=True)
    ]
    down.insert(1, (f"conv 64->32px 6->{filters[0]} (domain D)", "down", 64, 6, filters[0]))
    outs = (*filters[-2::-1], 3)
    up = [
        (f"deconv {s}->{2 * s}px {ci}->{co}", "up", s, ci, co)
        for s, ci, co in zip((4, 8, 16, 32), filters[::-1], outs, strict=True)
    ]
    return down + up


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def jax_fns(kind: str, impl: str, x: jax.Array, cout: int, dtype: str) -> tuple[Callable, Callable]:
    """Jitted forward and forward+backward of `DownConv` / `UpConv(implementation=impl)` on `x`."""
    layer_type = UpConv if kind == "up" else DownConv
    layer = layer_type(cout, implementation=impl, dtype=jnp.dtype(dtype))
    params = layer.init(jax.random.key(0), x)
    out_shape = jax.eval_shape(layer.apply, params, x).shape
    cot = jax.random.normal(jax.random.key(1), out_shape)
    fwd = jax.jit(layer.apply)
    # value_and_grad: the loss is linear in the output, so a bare grad would not run the forward.
    # cot is an argument: a closed-over array would be a constant that XLA folds into the graph.
    loss = jax.value_and_grad(lambda p, x, c: jnp.vdot(layer.apply(p, x), c), argnums=(0, 1))
    grad = jax.jit(loss)
    return (lambda: fwd(params, x)), (lambda: grad(params, x, cot))


def torch_fns(
    kind: str, x: np.ndarray, cout: int, channels_last: bool
) -> tuple[Callable, Callable]:
    """The same layer in PyTorch, forward under no_grad and forward+backward."""
    import torch

    cin = x.shape[-1]
    if kind == "up":
        layer = torch.nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)
    else:
        layer = torch.nn.Conv2d(cin, cout, 5, stride=2, padding=2)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    if channels_last:
        layer = layer.to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)
    xt.requires_grad_()
    with torch.no_grad():
        cot = torch.randn_like(layer(xt))

    def fwd() -> None:
        with torch.no_grad():
            layer(xt)

    def fwd_bwd() -> None:
        layer.zero_grad()
        xt.grad = None
        (layer(xt) * cot).sum().backward()

    return fwd, fwd_bwd


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--impls", default="native,subpixel", help="comma-separated")
    parser.add_argument("--dtype", default="float32", help="compute dtype (params stay float32)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    args = parser.parse_args(argv)

    impls = args.impls.split(",")
    try:
        import torch

        use_torch = not args.no_torch and args.dtype == "float32"
        torch_note = f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        use_torch, torch_note = False, ""
    print(
        f"jax {jax.__version__} on {jax.default_backend()}{torch_note}; batch {args.batch}, "
        f"width {args.width}, {args.dtype}, median of {args.repeats} (ms)\n"
    )
    print(
        "| layer | implementation | forward | fwd+bwd | fwd+bwd / forward | native fwd+bwd / this |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for name, kind, size, cin, cout in step_cases(args.width):
        x = jax.random.normal(jax.random.key(2), (args.batch, size, size, cin))
        fns = {impl: jax_fns(kind, impl, x, cout, args.dtype) for impl in impls}
        if use_torch:
            fns["torch"] = torch_fns(kind, np.asarray(x), cout, channels_last=False)
            fns["torch channels_last"] = torch_fns(kind, np.asarray(x), cout, channels_last=True)
        for fwd, fwd_bwd in fns.values():  # warm-up (and compile)
            seconds(fwd)
            seconds(fwd_bwd)
        times: dict[str, list[list[float]]] = {key: [[], []] for key in fns}
        for _ in range(args.repeats):
            for key, pair in fns.items():
                for slot, fn in zip(times[key], pair, strict=True):
                    slot.append(seconds(fn))
        medians = {key: [float(np.median(t)) for t in pair] for key, pair in times.items()}
        for key, (fwd, fwd_bwd) in medians.items():
            vs_native = f"{medians['native'][1] / fwd_bwd:.1f}x" if "native" in medians else "-"
            print(
                f"| {name} | {key} | {1e3 * fwd:.1f} | {1e3 * fwd_bwd:.1f} | "
                f"{fwd_bwd / fwd:.1f} | {vs_native} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
