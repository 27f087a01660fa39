"""Node compilers for time series (Time Intervals, the Modeler 16/17 and 18 Time Series nuggets).

The work lives in :mod:`pmserve.formats.spss.timeseries`; this module is the registry's entry point.
"""

from __future__ import annotations

from pmserve.formats.spss.timeseries import COMPILERS

__all__ = ["COMPILERS"]
