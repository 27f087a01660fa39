"""PMML data dictionary facts map to SPSS storage types and measurement levels."""

from __future__ import annotations

import pytest

from pmserve.api._metadata import measurement_level, storage_type, tables_document
from pmserve.pmml import DataType, Field


@pytest.mark.parametrize(("data_type", "storage"), [
    (DataType.STRING, "STRING"), (DataType.INTEGER, "LONG"), (DataType.FLOAT, "DOUBLE"),
    (DataType.DOUBLE, "DOUBLE"), (DataType.BOOLEAN, "STRING"), (DataType.DATE, "DATE"),
    (DataType.TIME, "TIME"), (DataType.DATE_TIME, "TIMESTAMP"), (DataType.DATE_DAYS_SINCE_1970, "DATE"),
    (DataType.DATE_TIME_SECONDS_SINCE_1960, "TIMESTAMP"),
])
def test_storage_type_follows_data_type(data_type: DataType, storage: str) -> None:
    """Each PMML dataType has its SPSS storage type."""
    assert storage_type(data_type) == storage


@pytest.mark.parametrize(("optype", "values", "level"), [
    ("continuous", (), "CONTINUOUS"), ("categorical", ("T", "F"), "FLAG"),
    ("categorical", ("a", "b", "c"), "NOMINAL"), ("categorical", (), "NOMINAL"),
    ("ordinal", ("lo", "hi"), "ORDINAL"),
])
def test_measurement_level_follows_optype_and_values(optype: str, values: tuple[str, ...],
                                                     level: str) -> None:
    """continuous, two-valued categorical (flag), other categorical, ordinal."""
    assert measurement_level(Field("f", DataType.STRING, optype, values)) == level


def test_field_names_are_escaped() -> None:
    """Names with XML specials stay well-formed."""
    doc = tables_document('in "x" & <y>', [Field('a<"b"', DataType.INTEGER, "continuous")])
    assert 'name="in &quot;x&quot; &amp; &lt;y&gt;"' in doc
    assert 'name="a&lt;&quot;b&quot;" storageType="LONG" measurementLevel="CONTINUOUS"' in doc
