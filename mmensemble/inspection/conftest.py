"""Doctest configuration: the figures of the examples draw off screen."""

import matplotlib

matplotlib.use("Agg")
