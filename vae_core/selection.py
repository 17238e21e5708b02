"""A selection of examples as a file, and back: what the scatter page's selection (click, box, lasso, search)
downloads, and the one way to read it in Python.

    from vae_core.selection import load_selection
    selection = load_selection("mnist-test-selection.parquet")   # or .csv
    selection.ids, selection.labels, selection.mu, selection.sigma, selection.terms["elbo"]

One row per example, in the order selected: `split`, `index` (the example's index in that split), `id` (Split.ids:
a folder dataset's file path relative to its folder, else "<split>/<index>"), `label`, `class`, `mu_0 .. mu_{D-1}`,
`sigma_0 .. sigma_{D-1}` (the posterior q(z|x) = N(mu, sigma^2)), and `recon`, `kl`, `elbo` in nats
(vae_core.metrics.per_example_terms). CSV (floats written to round-trip float32 exactly) or Parquet (pyarrow).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import VAEError

TERMS = ("recon", "kl", "elbo")
FORMATS = (".csv", ".parquet")


@dataclass(frozen=True)
class Selection:
    split: str  # "train", "test" or "all" (train then test)
    indices: np.ndarray  # (N,) int64 indices in the split
    ids: tuple[str, ...]  # (N,)
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]  # (N,) each row's class name
    mu: np.ndarray  # (N, D) float32
    sigma: np.ndarray  # (N, D) float32
    terms: dict[str, np.ndarray]  # recon, kl, elbo: (N,) float32 each

    @classmethod
    def of(cls, split: str, indices, ids, labels, class_names, mu, logvar, terms) -> Selection:
        """The rows `indices` of a split's arrays: `ids` (N_split,), `labels` (N_split,), the dataset's
        `class_names` (K,), `mu` and `logvar` (N_split, D), `terms` {recon, kl, elbo: (N_split,)}."""
        rows = np.asarray(indices, dtype=np.int64)
        picked = np.asarray(labels)[rows].astype(np.int64)
        return cls(split, rows, tuple(ids[i] for i in rows), picked, tuple(class_names[k] for k in picked),
                   np.asarray(mu, dtype=np.float32)[rows], np.exp(0.5 * np.asarray(logvar)[rows]).astype(np.float32),
                   {name: np.asarray(terms[name], dtype=np.float32)[rows] for name in TERMS})

    def columns(self) -> dict[str, list]:
        """The file's columns, in order."""
        latent_dim = self.mu.shape[1]
        return {"split": [self.split] * len(self.ids), "index": self.indices.tolist(), "id": list(self.ids),
                "label": self.labels.tolist(), "class": list(self.class_names),
                **{f"mu_{d}": self.mu[:, d].tolist() for d in range(latent_dim)},
                **{f"sigma_{d}": self.sigma[:, d].tolist() for d in range(latent_dim)},
                **{name: self.terms[name].tolist() for name in TERMS}}


def selection_csv(selection: Selection) -> bytes:
    columns = selection.columns()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in zip(*columns.values()):
        writer.writerow(f"{value:.9g}" if isinstance(value, float) else value for value in row)  # float32 exact
    return out.getvalue().encode()


def selection_parquet(selection: Selection) -> bytes:
    pa, pq = _pyarrow()
    columns = selection.columns()
    types = {name: pa.float32() for name in columns if name.startswith(("mu_", "sigma_")) or name in TERMS}
    table = pa.table({name: pa.array(values, type=types.get(name)) for name, values in columns.items()})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def load_selection(path: str | Path) -> Selection:
    """A selection file (.csv or .parquet, as the scatter page downloads it) back as a `Selection`."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise VAEError(f"a selection file ends in {' or '.join(FORMATS)}, got {path.name}")
    columns = _read_parquet(path) if path.suffix == ".parquet" else _read_csv(path)
    latent_dim = sum(name.startswith("mu_") for name in columns)
    missing = {"split", "index", "id", "label", "class", *TERMS} - set(columns)
    if missing or latent_dim == 0:
        raise VAEError(f"{path.name} is not a selection file: no column {', '.join(sorted(missing)) or 'mu_0'}")
    floats = lambda names: np.column_stack([np.asarray(columns[n], dtype=np.float32) for n in names])  # noqa: E731
    splits = set(columns["split"])
    return Selection(
        splits.pop() if len(splits) == 1 else "", np.asarray(columns["index"], dtype=np.int64),
        tuple(map(str, columns["id"])), np.asarray(columns["label"], dtype=np.int64), tuple(map(str, columns["class"])),
        floats([f"mu_{d}" for d in range(latent_dim)]), floats([f"sigma_{d}" for d in range(latent_dim)]),
        {name: np.asarray(columns[name], dtype=np.float32) for name in TERMS})


def _read_csv(path: Path) -> dict[str, list]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return {name: [row[i] for row in body] for i, name in enumerate(header)}


def _read_parquet(path: Path) -> dict[str, list]:
    _, pq = _pyarrow()
    return pq.read_table(path).to_pydict()


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise VAEError("Parquet needs pyarrow (pip install pyarrow); CSV needs nothing") from exc
    return pa, pq
