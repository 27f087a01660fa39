"""pmserve's own PMML engine: parse once, compile to a numpy plan, score whole columns at once.

>>> from pmserve import pmml
>>> model = pmml.load("model.pmml")            # bytes, a path or a binary file object
>>> result = model.score({"x1": [1.0, 2.5], "x2": ["a", None]})
>>> result["predicted_y"]                        # numpy arrays; NaN / None are missing values

Loading collects every unsupported or invalid element of the document into one
:class:`~pmserve.errors.DocumentProblems` naming element and line; a loaded model never fails on
markup at score time.
"""


from pmserve.pmml.document.limits import DeadlineExceeded, Limits
from pmserve.pmml.fields.field import Field, Interval
from pmserve.pmml.fields.types import DataType
from pmserve.pmml.model import Model, Scored, load

__all__ = ["DataType", "DeadlineExceeded", "Field", "Interval", "Limits", "Model", "Scored", "load"]
