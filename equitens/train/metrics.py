"""Training metrics: a CSV log (one row per epoch) and a learning-curve plot (PNG).

The CSV file is rewritten whole on each append (atomically), so it always holds complete rows;
on resume, :func:`truncate_metrics` drops the rows of epochs after the checkpoint, so the log of a
resumed run equals that of an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import math
import os
import pathlib
from collections.abc import Mapping, Sequence

__all__ = ["append_metrics", "plot_learning_curve", "read_metrics", "truncate_metrics"]


def read_metrics(path: str | pathlib.Path) -> list[dict[str, float]]:
    """Read a metrics CSV file written by :func:`append_metrics`.

    Args:
        path: the CSV file.

    Returns:
        One dict per row, values as floats (empty cells as NaN); ``[]`` if the file is missing.

    Examples:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/metrics.csv"
        >>> append_metrics(path, {"epoch": 1, "train_loss": 0.5})
        >>> read_metrics(path)
        [{'epoch': 1.0, 'train_loss': 0.5}]
    """
    path = pathlib.Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [
            {k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]


def _cell(value: float) -> str | float | int:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 2**53:
            return int(value)  # epochs and steps stay integers after a rewrite
    return value


def _write_rows(path: pathlib.Path, rows: Sequence[Mapping[str, float]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(buffer.getvalue())
    os.replace(tmp, path)


def append_metrics(path: str | pathlib.Path, row: Mapping[str, float]) -> None:
    """Append one row (e.g. one epoch) to a metrics CSV file; new columns are added.

    Args:
        path: the CSV file (created if missing).
        row: column name -> number.

    Examples:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/metrics.csv"
        >>> append_metrics(path, {"epoch": 1, "train_loss": 0.5})
        >>> append_metrics(path, {"epoch": 2, "train_loss": 0.25, "valid_loss": 0.3})
        >>> [r["valid_loss"] for r in read_metrics(path)][1]
        0.3
    """
    path = pathlib.Path(path)
    rows = read_metrics(path) + [dict(row)]
    _write_rows(path, rows)


def truncate_metrics(path: str | pathlib.Path, last_epoch: int) -> None:
    """Keep only the rows with ``epoch <= last_epoch`` (used when a run resumes).

    Args:
        path: the CSV file (nothing happens if it is missing).
        last_epoch: the epoch of the checkpoint resumed from.

    Examples:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/metrics.csv"
        >>> for epoch in (1, 2, 3):
        ...     append_metrics(path, {"epoch": epoch})
        >>> truncate_metrics(path, 1)
        >>> [r["epoch"] for r in read_metrics(path)]
        [1.0]
    """
    path = pathlib.Path(path)
    if path.is_file():
        _write_rows(path, [r for r in read_metrics(path) if r.get("epoch", 0) <= last_epoch])


def plot_learning_curve(metrics_csv: str | pathlib.Path, out_png: str | pathlib.Path) -> None:
    """Plot losses and validation errors against the epoch (matplotlib, Agg backend).

    Left panel: training and validation loss (log scale). Right panel: validation energy MAE
    per atom (meV/atom) and force MAE (meV/A), log scale.

    Args:
        metrics_csv: the CSV file of :func:`append_metrics`.
        out_png: the image to write.

    Examples:
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> for epoch, loss in enumerate((1.0, 0.5, 0.3), start=1):
        ...     append_metrics(folder + "/m.csv", {"epoch": epoch, "train_loss": loss,
        ...                    "valid_loss": loss, "valid_forces_mae": loss})
        >>> plot_learning_curve(folder + "/m.csv", folder + "/curve.png")
        >>> os.path.getsize(folder + "/curve.png") > 0
        True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(metrics_csv)
    fig = Figure(figsize=(10, 4), constrained_layout=True)
    FigureCanvasAgg(fig)  # the Agg canvas: no display, no global pyplot state
    ax_loss, ax_err = fig.subplots(1, 2)
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(rows)]

    def series(key: str, scale: float = 1.0) -> list[float]:
        return [r.get(key, math.nan) * scale for r in rows]

    def draw(ax, key, label, scale=1.0):
        values = series(key, scale)
        if any(math.isfinite(v) and v > 0 for v in values):
            ax.plot(epochs, values, marker="o", markersize=3, label=label)

    draw(ax_loss, "train_loss", "train loss")
    draw(ax_loss, "valid_loss", "validation loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    draw(ax_err, "valid_energy_per_atom_mae", "energy MAE (meV/atom)", 1000.0)
    draw(ax_err, "valid_forces_mae", "force MAE (meV/A)", 1000.0)
    draw(ax_err, "valid_stress_mae", "stress MAE (meV/A^3)", 1000.0)
    ax_err.set_xlabel("epoch")
    ax_err.set_title("validation errors")
    for ax in (ax_loss, ax_err):
        if ax.lines:
            ax.set_yscale("log")
            ax.legend()
        ax.grid(True, which="both", alpha=0.3)
    out_png = pathlib.Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
