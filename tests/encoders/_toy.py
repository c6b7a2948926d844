"""The toy cell encoder shared by the encoder-machinery and embedding-cache tests."""

import numpy as np
import pandas as pd

from mmensemble._parameters import estimator_parameters
from mmensemble.encoders._base import BaseCellEncoder


@estimator_parameters
class SummaryEncoder(BaseCellEncoder):
    """Scaled mean, spread, minimum and maximum of a numeric array cell.

    Records, per process, the size of every batch it embeds in ``batches``, and
    counts its ``_embed`` calls in ``_calls``, runtime state that is not pickled.
    An empty array is a bad cell.
    """

    _runtime_attributes = ("_calls",)
    batches = []

    scale: float = 1.0
    batch_size: int = 4

    def _prepare(self):
        self._calls = 0

    def _output_width(self):
        return 4

    def _decode(self, cell):
        array = np.asarray(cell, dtype=float)
        if array.size == 0:
            raise ValueError("empty array")
        return array

    def _embed(self, decoded):
        self._calls += 1
        type(self).batches.append(len(decoded))
        return np.array(
            [[c.mean() * self.scale, c.std(), c.min(), c.max()] for c in decoded],
            dtype=np.float32,
        )


def embedded():
    """How many cells the toy encoder has embedded since ``batches`` was reset."""
    return sum(SummaryEncoder.batches)


def cells(n=10, start=0):
    """A column of ``n`` numeric array cells, ``arange(i, i + 5)`` for each row i."""
    return pd.Series(
        [np.arange(i, i + 5, dtype=float) for i in range(start, start + n)],
        index=[f"r{i}" for i in range(start, start + n)],
        name="signal",
    )
