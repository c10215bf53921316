"""Expressivity and interactability of every registered tensor-product method, over L.

For each method and degree ``L`` the layer ``Linear o TP o (Linear, Linear)`` acts on the data
irreps ``0e + 1o + ... + L`` (both inputs) into every irrep of degree ``<= L`` (both parities),
with ``C`` hidden channels (the multiplicity of the TP's inputs). The table lists, computed
numerically by :func:`equitens.analysis.expressivity` through each method's own kernel:

- interactions: the reachable ``(ir1, ir2) -> ir3`` out of the parity-allowed ones;
- dimension: of the reachable set of equivariant bilinear maps, out of all of them (the number
  of parity-allowed paths, which CG with free path weights reaches).

Run: ``python -m experiments.expressivity [--lmax 4] [--channels 1 2 4] [--other-channels 1]``;
writes ``experiments/expressivity.md``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equitens.tp  # noqa: E402
import equitens.tp.gaunt  # noqa: E402  (registers the Gaunt methods)
from equitens.analysis import expressivity  # noqa: E402
from equitens.tp.gaunt import gaunt_spec  # noqa: E402
from equitens.tp.registry import available_methods  # noqa: E402
from equitens.tp.spec import TensorProductSpec  # noqa: E402


def import_all_methods() -> None:
    """Import every module under ``equitens.tp`` so that every family registers its method."""
    for info in pkgutil.walk_packages(equitens.tp.__path__, "equitens.tp."):
        try:
            importlib.import_module(info.name)
        except Exception as error:  # a broken optional module must not stop the table
            print(f"could not import {info.name}: {error}")


GAUNT = {"gaunt_grid": False, "gaunt_fourier": False, "vector_gaunt": True}


def natural(L: int, mul: int) -> str:
    return " + ".join(f"{mul}x{l}{'eo'[l % 2]}" for l in range(L + 1))


def all_parities(L: int) -> str:
    return " + ".join(f"{l}e + {l}o" for l in range(L + 1))


def spec_for(method: str, L: int, channels: int) -> TensorProductSpec:
    """The TP of each family at ``C`` channels: Gaunt methods channelwise ("uuu", one function per
    channel), the others all channel pairs with every path ("uvuv", e3nn's full product)."""
    if method in GAUNT:
        return gaunt_spec(
            natural(L, channels),
            natural(L, channels),
            L,
            channel_mode="uuu",
            odd=GAUNT[method],
            method=method,
        )
    return TensorProductSpec.full(
        natural(L, channels), natural(L, channels), all_parities(L), method=method
    )


def run(
    lmax: int, channels: list[int], methods: list[str], other_channels: list[int]
) -> list[dict]:
    rows = []
    for L in range(1, lmax + 1):
        for method in methods:
            for c in channels if method in GAUNT else other_channels:
                start = time.perf_counter()
                try:
                    report = expressivity(spec_for(method, L, c), irreps_out=all_parities(L))
                except ValueError as error:
                    rows.append(
                        {"method": method, "L": L, "C": c, "error": str(error).split(";")[0]}
                    )
                    continue
                rows.append(
                    {
                        "method": method,
                        "L": L,
                        "C": c,
                        "interactions": len(report.interactions),
                        "allowed": len(report.interactions) + len(report.missing),
                        "dimension": report.dimension,
                        "bound": report.upper_bound,
                        "params": report.num_parameters,
                        "seconds": time.perf_counter() - start,
                    }
                )
                print(rows[-1], flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| L | method | C | interactions reached | expressivity (dim) | params |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['L']} | {r['method']} | {r['C']} | n/a: {r['error']} | | |")
            continue
        lines.append(
            f"| {r['L']} | {r['method']} | {r['C']} | {r['interactions']} / {r['allowed']} | "
            f"{r['dimension']} / {r['bound']} | {r['params']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lmax", type=int, default=4)
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--other-channels",
        type=int,
        nargs="+",
        default=[1, 2],
        help="channels for the non-Gaunt methods (CG reaches everything with one; its uvuv "
        "product grows as C^2)",
    )
    parser.add_argument(
        "--methods", nargs="+", default=None, help="default: every registered method"
    )
    parser.add_argument("--out", default=str(Path(__file__).with_name("expressivity.md")))
    args = parser.parse_args(argv)
    import_all_methods()
    methods = args.methods or list(available_methods())
    rows = run(args.lmax, args.channels, methods, args.other_channels)
    text = (
        "# Expressivity of Linear o TP o (Linear, Linear)\n\n"
        f"Data irreps: inputs `0e + 1o + ... + L`, outputs every irrep of degree <= L; C hidden "
        "channels. `interactions reached`: reachable (ir1, ir2) -> ir3 / parity-allowed. "
        "`expressivity`: dimension of the reachable set of equivariant bilinear maps / dimension "
        "of all of them. Generated by `python -m experiments.expressivity "
        f"--lmax {args.lmax} --channels {' '.join(map(str, args.channels))} --other-channels "
        f"{' '.join(map(str, args.other_channels))}`.\n\n" + markdown(rows)
    )
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
