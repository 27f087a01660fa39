"""Compiled inner loops of the engine (numba, cached on disk).

Every hot loop that numpy can only express as one call per tree level, per layer or per block
lives here as a plain function over numpy arrays, compiled by :func:`kernel`.  The rules a kernel
applies are not its own: it is handed arrays the owning module built (a tree's node arrays, a
layer's weights) and does the arithmetic in the order JPMML does, so the compiled and the
general paths agree to the last bit and tests compare them.

Compilation happens once per machine: ``cache=True`` keeps the machine code beside the source (or
in numba's per-user cache when that folder is read-only), and :func:`warm_up` loads every kernel
at server start-up so that no request pays for it.
"""

# Every kernel module, so that each kernel is registered before warm_up: model modules are imported
# when a document first needs them, and their kernels must be loaded at start-up, not then.
from pmserve.pmml.kernels import distance, naive_bayes, neural, svm, trees, vote  # noqa: F401
from pmserve.pmml.kernels._jit import kernel, registered, warm_up

__all__ = ["kernel", "registered", "warm_up"]
