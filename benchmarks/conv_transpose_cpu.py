"""Times the decoder's 5x5 stride-2 transposed convolutions per `UpConv` implementation.

Why: XLA's CPU backend computes the kernel gradient of `nn.ConvTranspose` tens of times slower
than its forward pass; this is the evidence behind `UpConv(implementation='auto')`.

For each layer of the PLDT converter's decoder (Table 1: 4->8->16->32->64 px, channels
1024->512->256->128->3 times --width) and the prototype's 16->32 px, 128->64 layer, it prints the
median over --repeats runs (after a warm-up, implementations interleaved so that load from other
processes hits them alike) of the jitted forward pass and of forward+backward (gradients w.r.t.
input, kernel and bias). With PyTorch installed it adds `torch.nn.ConvTranspose2d(k=5, stride=2,
padding=2, output_padding=1)` on the same shapes (NCHW, float32 only) for reference.

    python benchmarks/conv_transpose_cpu.py --width 0.25 --batch 64 --repeats 5
"""

import argparse
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from pldt_jax.layers import UpConv

Case = tuple[str, int, int, int]  # (name, input size, in channels, out channels)


def decoder_cases(width: float) -> list[Case]:
    """The four decoder layers at `width`, then the prototype's layer."""
    chans = [int(c * width) for c in (1024, 512, 256, 128)] + [3]
    cases = [
        (f"{s}->{2 * s}px {ci}->{co}", s, ci, co)
        for s, ci, co in zip((4, 8, 16, 32), chans[:-1], chans[1:], strict=True)
    ]
    return [*cases, ("prototype 16->32px 128->64", 16, 128, 64)]


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def jax_fns(impl: str, x: jax.Array, cout: int, dtype: str) -> tuple[Callable, Callable]:
    """Jitted forward and forward+backward of `UpConv(cout, implementation=impl)` on `x`."""
    layer = UpConv(cout, implementation=impl, dtype=jnp.dtype(dtype))
    params = layer.init(jax.random.key(0), x)
    cot = jax.random.normal(jax.random.key(1), (x.shape[0], 2 * x.shape[1], 2 * x.shape[2], cout))
    fwd = jax.jit(layer.apply)
    # value_and_grad: the loss is linear in the output, so a bare grad would not run the forward.
    # cot is an argument: a closed-over array would be a constant that XLA folds into the graph.
    loss = jax.value_and_grad(lambda p, x, c: jnp.vdot(layer.apply(p, x), c), argnums=(0, 1))
    grad = jax.jit(loss)
    return (lambda: fwd(params, x)), (lambda: grad(params, x, cot))


def torch_fns(x: np.ndarray, cout: int) -> tuple[Callable, Callable]:
    """The same layer in PyTorch (NCHW), forward under no_grad and forward+backward."""
    import torch

    layer = torch.nn.ConvTranspose2d(x.shape[-1], cout, 5, stride=2, padding=2, output_padding=1)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()
    cot = torch.randn(x.shape[0], cout, 2 * x.shape[1], 2 * x.shape[2])

    def fwd() -> None:
        with torch.no_grad():
            layer(xt)

    def fwd_bwd() -> None:
        layer.zero_grad()
        xt.grad = None
        (layer(xt) * cot).sum().backward()

    return fwd, fwd_bwd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--impls", default="native,subpixel", help="comma-separated")
    parser.add_argument("--dtype", default="float32", help="compute dtype (params stay float32)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    args = parser.parse_args()

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
    for name, size, cin, cout in decoder_cases(args.width):
        x = jax.random.normal(jax.random.key(2), (args.batch, size, size, cin))
        fns = {impl: jax_fns(impl, x, cout, args.dtype) for impl in impls}
        if use_torch:
            fns["torch"] = torch_fns(np.asarray(x), cout)
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
                f"{fwd_bwd / fwd:.1f} | {vs_native} |"
            )


if __name__ == "__main__":
    main()
