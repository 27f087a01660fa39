"""What every producer module of the zoo shares: the case record and the hostile inputs."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Cell = str | None


@dataclass
class ZooCase:
    """One model from one producer: how to write its PMML, and the records to score."""

    case_id: str  # "<producer>/<name>"
    build: Callable[[Path], None]  # writes the PMML document to the given path
    inputs: dict[str, list[Cell]]  # column -> cells, exactly as stored in input.csv (None = missing)
    describes: str  # what the case exercises, for meta.json
    notes: dict[str, str] = field(default_factory=dict)
    #: The producing library's own predictions on the clean records (column -> values), set by
    #: ``build`` where JPMML cannot score the document, so pmserve is still checked against something.
    native: dict[str, list[float]] | None = None


def cell(value: object) -> Cell:
    """A value as the text a client would send (full precision for floats)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


def hostile_rows(
    clean: dict[str, list[object]],
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: str,
    rows: int = 24,
) -> dict[str, list[Cell]]:
    """``rows`` clean records, then the same records made hostile, one kind of trouble each.

    Troubles: a missing value, a number far out of the training range, an unseen category, a
    number written as a padded string (" 12.5 "), and a padded category (" a ").
    """
    rng = random.Random(seed)
    n = len(next(iter(clean.values())))
    picked = [rng.randrange(n) for _ in range(rows)]
    out: dict[str, list[Cell]] = {name: [cell(values[i]) for i in picked] for name, values in clean.items()}
    columns = list(numeric) + list(categorical)
    for k in range(rows):
        i = picked[k]
        row = {name: cell(values[i]) for name, values in clean.items()}
        name = columns[k % len(columns)]
        trouble = k % 5
        if trouble == 0:
            row[name] = None
        elif trouble == 1 and name in numeric and row[name] is not None:
            row[name] = cell(float(row[name] or 0) * 1000.0 + 1e6)
        elif trouble == 2 and name in categorical:
            row[name] = "zz_unseen"
        elif trouble == 3 and name in numeric and row[name] is not None:
            row[name] = f"  {row[name]} "
        elif trouble == 4 and name in categorical and row[name] is not None:
            row[name] = f" {row[name]} "
        else:
            row[name] = None
        for key, value in row.items():
            out[key].append(value)
    return out
