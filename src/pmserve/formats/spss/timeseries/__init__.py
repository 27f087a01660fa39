"""Time series in Modeler streams: the Time Intervals node, the Modeler 16/17 Time Series nugget
(TSCXML exponential smoothing) and the Modeler 18 one (``spss.ts``, PMML ``TimeSeriesModel``).

:data:`COMPILERS` maps each node class to its compiler (``pmserve.formats.spss._model.NodeCompiler``).
"""

from __future__ import annotations

from pmserve.formats.spss._model import NodeCompiler
from pmserve.formats.spss.timeseries._extension_zip import read_extension_container
from pmserve.formats.spss.timeseries._intervals import compile_time_intervals
from pmserve.formats.spss.timeseries._nugget17 import compile_apply_time_series
from pmserve.formats.spss.timeseries._nugget18 import compile_extension_apply
from pmserve.formats.spss.timeseries._smoothing import Smoothing, replay, student_t_quantile
from pmserve.formats.spss.timeseries._tscxml import SeriesModel, read_tscxml

COMPILERS: dict[str, NodeCompiler] = {
    "TimeIntervalsNode": compile_time_intervals,
    "ApplyTimeSeriesNode": compile_apply_time_series,
    "ExtensionApplyModelNode": compile_extension_apply,
}

__all__ = [
    "COMPILERS", "SeriesModel", "Smoothing", "read_extension_container", "read_tscxml", "replay", "student_t_quantile",
]
