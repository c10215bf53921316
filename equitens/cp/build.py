"""Fit and ship the CP factors of the common case: ``python -m equitens.cp.build --lmax 1 2 3 4``.

For each ``L`` the irreps in and out are ``0e + 1o + 2e + ...`` up to ``L`` (the parities of the
spherical harmonics) and the harmonics go up to ``L``; the factors of smallest rank found with
relative error ``<= --tol`` are written to ``equitens/cp/data/`` (package data), with one line of
rank, error and fit time printed per ``L``.
"""

from __future__ import annotations

import argparse

from equitens.cp.factors import DATA_DIR, fit_cp_factors, save_factors


def natural_irreps(lmax: int) -> str:
    """``0e + 1o + 2e + ...`` up to ``lmax``, one channel.

    Examples:
        >>> natural_irreps(2)
        '0e + 1o + 2e'
    """
    return " + ".join(f"{l}{'eo'[l % 2]}" for l in range(lmax + 1))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lmax", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--max-iter", type=int, default=3000)
    parser.add_argument("--out", default=str(DATA_DIR))
    args = parser.parse_args(argv)
    for L in args.lmax:
        irreps = natural_irreps(L)
        f = fit_cp_factors(irreps, L, irreps, tol=args.tol, max_iter=args.max_iter)
        path = save_factors(f, args.out)
        print(
            f"L={L} rank={f.rank} rel_error={f.rel_error:.2e} fit={f.fit_seconds:.1f}s -> {path}",
            flush=True,
        )


if __name__ == "__main__":
    main()
