"""What runs in Spark's Python workers: the model cache and the scoring of one partition.

Nothing here imports PySpark: a worker gets the model as its file (a broadcast of its bytes) and
compiles it once per process, keyed by the file's SHA-256; later tasks in the same worker (Spark
reuses Python workers by default) find it compiled.  Compiled state never crosses the wire.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pmserve.arrow import score_batch
from pmserve.errors import DataError
from pmserve.formats import Scorable, load_model

#: Compiled models kept per process; a worker rarely scores more than one model at a time, and an
#: evicted one is simply compiled again from its broadcast file.
CACHED_MODELS = 4

_lock = threading.Lock()
_models: OrderedDict[str, Scorable] = OrderedDict()


def compiled(sha256: str, filename: str, content: Callable[[], bytes]) -> Scorable:
    """The model whose file has this SHA-256, compiled from ``content()`` on first use."""
    with _lock:
        model = _models.get(sha256)
        if model is not None:
            _models.move_to_end(sha256)
            return model
    # Compiled outside the lock: two threads may both compile a new model; both results are equal.
    model = load_model(filename, content())
    with _lock:
        _models[sha256] = model
        while len(_models) > CACHED_MODELS:
            _models.popitem(last=False)
    return model


@dataclass(frozen=True)
class ModelFile:
    """A model as it travels to the executors: its name, SHA-256 and a broadcast of its bytes."""

    filename: str
    sha256: str
    broadcast: Any  # pyspark.Broadcast[bytes]

    def model(self) -> Scorable:
        return compiled(self.sha256, self.filename, lambda: bytes(self.broadcast.value))


@dataclass(frozen=True)
class Counters:
    """Spark accumulators of the records scored and of those that could not be."""

    rows: Any  # pyspark.Accumulator[int]
    failed: Any


def score_partition(model_file: ModelFile, errors: Literal["collect", "raise"], counters: Counters | None,
                    batches: Iterator[Any]) -> Iterator[Any]:
    """``mapInArrow``'s function: every Arrow batch of a partition, scored."""
    model = model_file.model()
    for batch in batches:
        scored = score_batch(model, batch, offset=None)
        if scored.errors and errors == "raise":
            first = next(iter(scored.errors.values()))
            # The row within this batch means nothing to the user: the message goes without it.
            raise DataError(first.render(None), field=first.field, value=first.value) from first
        if counters is not None:
            counters.rows.add(batch.num_rows)
            counters.failed.add(len(scored.errors))
        yield scored.batch
