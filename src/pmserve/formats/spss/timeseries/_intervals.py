"""The Time Intervals node (Modeler <= 17): labels the records as a time series and adds the
future records that a downstream Time Series nugget fills with forecasts.

Supported: ``timeIntervalMode`` ``LABEL`` (records are already in time order and evenly spaced;
the node numbers and labels them from the start settings) for the interval types below, with the
fields Modeler's documentation lists for each (names are ``timeFieldNameExtension`` + the base
name, as a prefix or a suffix):

=================  =======================================================================
``PERIODS``        TimeIndex, TimeLabel (string ``Period n``), Period
``YEARS``          TimeIndex, TimeLabel (date, 1 January), Year
``QUARTERS``       TimeIndex, TimeLabel (date, first day of the quarter), Year, Quarter
``MONTHS``         TimeIndex, TimeLabel (date, first day of the month), Year, Month
``DAYS_PER_WEEK``  TimeIndex, TimeLabel (date), Week, Day (1 = ``timeWeekBeginsOn``)
=================  =======================================================================

then the future-record flag (``timeIntervalsFutureFieldName``, 0 on the input records, 1 on the
``timeIntervalsNumFutureRecords`` records appended after them, whose other fields are missing).
``CREATE`` mode (``timeIntervalField``, a date or timestamp) is run for MONTHS, QUARTERS and YEARS
when the records already come one per interval in time order: the labels start at the first
record's interval; a gap or a duplicate (which Modeler would pad or aggregate) fails the request
naming the row.  Other modes and interval types, and future values for input fields, are refused
by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from pmserve.errors import DataError
from pmserve.formats.spss._model import Node, SpssField, StreamContext, Table
from pmserve.formats.spss.timeseries import _props
from pmserve.formats.spss.timeseries._table import AddsFields, days, extend
from pmserve.pmml.models.time_series import MAX_HORIZON

#: The most future records a Time Intervals node may ask for (the engine's longest horizon).
MAX_FUTURE_RECORDS = MAX_HORIZON

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
INTERVALS = ("PERIODS", "YEARS", "QUARTERS", "MONTHS", "DAYS_PER_WEEK")
_INTEGER = SpssField("", "integer", "range")


@dataclass(frozen=True)
class _Plan:
    kind: str
    increment: int
    year: int
    month: int  # 1-12
    day: int
    quarter: int  # 1-4
    period: int
    days_per_week: int
    week_start: int  # 0 = Monday
    cycle: int  # first week number


@dataclass(eq=False)
class TimeIntervals(AddsFields):
    """A compiled Time Intervals node."""

    future_records: int
    plan: _Plan
    time_field: SpssField | None  # CREATE mode: the date or timestamp field the index is built from

    def run(self, inputs: Sequence[Table]) -> Table:
        (table,) = inputs
        n = table.n_rows + self.future_records
        plan = self.plan if self.time_field is None else self._plan_from_data(table)
        columns = extend(table, self.future_records)
        labels = _labels(plan, n)
        future = np.zeros(n)
        future[table.n_rows:] = 1.0
        values = [*labels, future] if len(self.added) == len(labels) + 1 else labels
        for f, col in zip(self.added, values, strict=True):
            columns[f.name] = col
        return Table(self.output_fields, columns, n)

    def _plan_from_data(self, table: Table) -> _Plan:
        """CREATE mode: the labels start at the first record's interval; the records must already be one
        per interval, in time order (Modeler would pad gaps and aggregate duplicates, pmserve does not)."""
        assert self.time_field is not None
        name = self.time_field.name
        values = np.asarray(table.columns[name], dtype=np.float64)
        if table.n_rows == 0:
            return self.plan
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(f"the time field {name!r} is missing; {self.node.describe()} builds "
                            f"its time index from it", field=name, row=row)
        unit = "D" if self.time_field.storage == "date" else "s"
        months = values.astype(np.int64).astype(f"datetime64[{unit}]").astype("datetime64[M]").astype(np.int64)
        per = {"MONTHS": 1, "QUARTERS": 3, "YEARS": 12}[self.plan.kind]
        steps = months // per  # months count from January 1970, the start of a quarter and a year
        bad = np.flatnonzero(np.diff(steps) != self.plan.increment)
        if bad.size:
            row = int(bad[0]) + 1
            raise DataError(f"{self.node.describe()}: the records must come one per interval in time order; the "
                            f"{name!r} does not follow the one before it: Modeler would pad or "
                            f"aggregate, which pmserve does not", field=name, row=row)
        first = int(months[0])
        return replace(self.plan, year=1970 + first // 12, month=first % 12 + 1, quarter=(first % 12) // 3 + 1)


def compile_time_intervals(node: Node, inputs: Sequence[tuple[SpssField, ...]], ctx: StreamContext) -> TimeIntervals:
    if len(inputs) != 1:
        raise _props.invalid(node, f"expected one upstream input, got {len(inputs)}")
    fields = inputs[0]
    mode = _props.text(node, "timeIntervalMode", "LABEL")
    kind = _props.text(node, "timeIntervalType", "PERIODS")
    if kind not in INTERVALS:
        raise _props.unsupported(node, f"timeIntervalType {kind} is not supported; expected one of "
                                       f"{', '.join(INTERVALS)}", "timeIntervalType")
    time_field = None
    if mode == "CREATE":
        if kind not in ("MONTHS", "QUARTERS", "YEARS"):
            raise _props.unsupported(node, f"timeIntervalMode CREATE with {kind} is not supported; expected MONTHS, "
                                           f"QUARTERS or YEARS", "timeIntervalType")
        name = _props.text(node, "timeIntervalField")
        time_field = next((f for f in fields if f.name == name), None)
        if time_field is None or time_field.storage not in ("date", "timestamp"):
            raise _props.invalid(node, f"its time field {name!r} does not reach it as a date or timestamp",
                                 "timeIntervalField")
    elif mode != "LABEL":
        raise _props.unsupported(node, f"timeIntervalMode {mode} is not supported; expected LABEL or CREATE",
                                 "timeIntervalMode")
    if node.element.find("properties/timeIntervalsFutureValuesFields/rows/row") is not None:
        raise _props.unsupported(node, "future values for input fields (timeIntervalsFutureValuesFields) are not "
                                       "supported", "timeIntervalsFutureValuesFields")
    plan = _plan(node, kind)
    extension = _props.text(node, "timeFieldNameExtension", "$TI_")
    prefix = _props.flag(node, "timeFieldNameExtensionAsPrefix", True)

    def named(base: str) -> str:
        return extension + base if prefix else base + extension

    label_storage = "string" if kind == "PERIODS" else "date"
    parts = {"PERIODS": ("Period",), "YEARS": ("Year",), "QUARTERS": ("Year", "Quarter"),
             "MONTHS": ("Year", "Month"), "DAYS_PER_WEEK": ("Week", "Day")}[kind]
    added = [SpssField(named("TimeIndex"), "integer", "range"),
             SpssField(named("TimeLabel"), label_storage, "set" if kind == "PERIODS" else "range")]
    added += [SpssField(named(p), "integer", "range") for p in parts]
    future_records = 0
    if _props.flag(node, "timeIntervalsCreateFutureRecords"):
        future_records = _props.integer(node, "timeIntervalsNumFutureRecords", 0, 0, MAX_FUTURE_RECORDS)
    if _props.flag(node, "timeIntervalsCreateFutureField", True):
        added.append(SpssField(_props.text(node, "timeIntervalsFutureFieldName", "$TI_Future"), "integer",
                               "flag", values=(0, 1)))
    names = [f.name for f in fields]
    clash = sorted({f.name for f in added} & set(names))
    if clash or len({f.name for f in added}) != len(added):
        raise _props.invalid(node, f"the fields it adds ({', '.join(f.name for f in added)}) clash with fields "
                                   f"reaching it: {clash or 'among themselves'}")
    return TimeIntervals(node, fields, tuple(added), future_records, plan, time_field)


def _plan(node: Node, kind: str) -> _Plan:
    month_name = _props.text(node, "timeLabelMonthStart", "January")
    week_name = _props.text(node, "timeWeekBeginsOn", "Monday")
    if month_name not in MONTHS:
        raise _props.invalid(node, f"timeLabelMonthStart must be a month name, got {month_name!r}")
    if week_name not in WEEKDAYS:
        raise _props.invalid(node, f"timeWeekBeginsOn must be a day name, got {week_name!r}")
    plan = _Plan(
        kind=kind,
        increment=_props.integer(node, "timeIncrementBy", 1, 1, 1_000_000),
        year=_props.integer(node, "timeLabelYearStart", 1970, 1, 9999),
        month=MONTHS.index(month_name) + 1,
        day=_props.integer(node, "timeLabelDayStart", 1, 1, 31),
        quarter=_props.integer(node, "timeLabelQuarterStart", 1, 1, 4),
        period=_props.integer(node, "timeLabelPeriodStart", 1, -1_000_000_000, 1_000_000_000),
        days_per_week=_props.integer(node, "timeNumDaysPerWeek", 7, 1, 7),
        week_start=WEEKDAYS.index(week_name),
        cycle=_props.integer(node, "timeLabelCycleStart", 1, -1_000_000_000, 1_000_000_000),
    )
    if kind == "DAYS_PER_WEEK":
        if plan.increment != 1:
            raise _props.unsupported(node, f"timeIncrementBy {plan.increment} with DAYS_PER_WEEK is not supported; "
                                           f"expected 1", "timeIncrementBy")
        try:
            start = dt.date(plan.year, plan.month, plan.day)
        except ValueError:
            raise _props.invalid(node, f"the label start {plan.year}-{plan.month:02}-{plan.day:02} is not a date"
                                 ) from None
        if (start.weekday() - plan.week_start) % 7 >= plan.days_per_week:
            raise _props.invalid(node, f"the label start {start.isoformat()} ({WEEKDAYS[start.weekday()]}) is not "
                                       f"one of the {plan.days_per_week} days of a week beginning on "
                                       f"{WEEKDAYS[plan.week_start]}")
    return plan


def _labels(plan: _Plan, n: int) -> list[np.ndarray]:
    """TimeIndex, TimeLabel and the interval's own fields for records 0..n-1."""
    i = np.arange(n, dtype=np.int64)
    index = (i + 1).astype(np.float64)
    step = i * plan.increment
    if plan.kind == "PERIODS":
        period = plan.period + step
        label = np.array([f"Period {p}" for p in period], dtype=object)
        return [index, label, period.astype(np.float64)]
    if plan.kind == "YEARS":
        year = plan.year + step
        return [index, days(year, np.ones(n), np.ones(n)), year.astype(np.float64)]
    if plan.kind == "QUARTERS":
        q = (plan.quarter - 1) + step
        year, quarter = plan.year + q // 4, q % 4 + 1
        return [index, days(year, 3 * quarter - 2, np.ones(n)), year.astype(np.float64), quarter.astype(np.float64)]
    if plan.kind == "MONTHS":
        m = (plan.month - 1) + step
        year, month = plan.year + m // 12, m % 12 + 1
        return [index, days(year, month, np.ones(n)), year.astype(np.float64), month.astype(np.float64)]
    # DAYS_PER_WEEK: the start's place in its week, then whole weeks of days_per_week records.
    start = dt.date(plan.year, plan.month, plan.day)
    offset = (start.weekday() - plan.week_start) % 7
    week_first = float(days(np.array([plan.year]), np.array([plan.month]), np.array([plan.day]))[0]) - offset
    q = offset + step
    week, day = q // plan.days_per_week, q % plan.days_per_week
    label = week_first + 7.0 * week + day
    if label.size and not np.isfinite(label[-1]):
        raise DataError("the time labels run past the last representable date")
    return [index, label, (plan.cycle + week).astype(np.float64), (day + 1).astype(np.float64)]
