"""SupportVectorMachineModel (pmserve.pmml.models.svm) on small hand-written documents."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from pmserve import pmml
from pmserve.errors import DocumentProblems, EvaluationError

# Three support vectors over (x1, x2): v1 dense, v2 and v3 sparse (v3 has an implicit zero).
VECTORS = {"v1": (1.0, 2.0), "v2": (-1.0, 0.5), "v3": (0.0, -1.5)}
VECTOR_DICTIONARY = """
    <VectorDictionary numberOfVectors="3">
      <VectorFields numberOfFields="2"><FieldRef field="x1"/><FieldRef field="x2"/></VectorFields>
      <VectorInstance id="v1"><Array type="real" n="2">1 2</Array></VectorInstance>
      <VectorInstance id="v2"><REAL-SparseArray n="2"><Indices>1 2</Indices><REAL-Entries>-1 0.5</REAL-Entries>
      </REAL-SparseArray></VectorInstance>
      <VectorInstance id="v3"><REAL-SparseArray n="2"><Indices>2</Indices><REAL-Entries>-1.5</REAL-Entries>
      </REAL-SparseArray></VectorInstance>
    </VectorDictionary>"""
X1 = [0.5, -2.0, 1.5, 0.0, 3.0]
X2 = [1.0, 0.25, -1.0, 0.0, 2.5]


def machine(coefs: dict[str, float], b: float, attrs: str = "") -> str:
    svs = "".join(f'<SupportVector vectorId="{v}"/>' for v in coefs)
    cs = "".join(f'<Coefficient value="{c}"/>' for c in coefs.values())
    return (f'<SupportVectorMachine {attrs}><SupportVectors>{svs}</SupportVectors>'
            f'<Coefficients absoluteValue="{b}">{cs}</Coefficients></SupportVectorMachine>')


def doc(function: str, kernel: str, machines: str, *, attrs: str = "", target: str | None = None) -> bytes:
    target = target or ('<DataField name="y" optype="continuous" dataType="double"/>' if function == "regression"
                        else '<DataField name="y" optype="categorical" dataType="string"/>')
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="double"/>
    {target}
  </DataDictionary>
  <SupportVectorMachineModel functionName="{function}" {attrs}>
    <MiningSchema><MiningField name="x1"/><MiningField name="x2"/><MiningField name="y" usageType="target"/>
    </MiningSchema>
    {kernel}
    {VECTOR_DICTIONARY}
    {machines}
  </SupportVectorMachineModel>
</PMML>""".encode()


def dot(a: tuple[float, float], b: tuple[float, float]) -> float:
    return a[0] * b[0] + a[1] * b[1]


KERNELS: dict[str, tuple[str, Callable[[tuple[float, float], tuple[float, float]], float]]] = {
    "linear": ("<LinearKernelType/>", dot),
    "polynomial": ('<PolynomialKernelType gamma="0.5" coef0="2" degree="3"/>',
                   lambda a, b: (0.5 * dot(a, b) + 2.0) ** 3),
    "radialBasis": ('<RadialBasisKernelType gamma="0.7"/>',
                    lambda a, b: math.exp(-0.7 * ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2))),
    "sigmoid": ('<SigmoidKernelType gamma="0.3" coef0="-0.2"/>', lambda a, b: math.tanh(0.3 * dot(a, b) - 0.2)),
}
COEFS = {"v1": 0.75, "v2": -1.25, "v3": 0.5}


def decision(kernel: Callable[[tuple[float, float], tuple[float, float]], float], coefs: dict[str, float],
             b: float) -> list[float]:
    return [sum(c * kernel((a, z), VECTORS[v]) for v, c in coefs.items()) + b for a, z in zip(X1, X2, strict=True)]


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_regression_sums_coefficients_times_kernel_plus_absolute_value(name: str) -> None:
    """Each kernel type gives sum(coefficient * K(x, vector)) + absoluteValue."""
    element, kernel = KERNELS[name]
    got = pmml.load(doc("regression", element, machine(COEFS, 0.3))).score({"x1": X1, "x2": X2})
    np.testing.assert_allclose(got["y"], decision(kernel, COEFS, 0.3), rtol=1e-12)


def test_one_against_one_votes_with_threshold_and_shares_votes_as_probabilities() -> None:
    """OneAgainstOne: a value below threshold votes targetCategory, else alternateTargetCategory."""
    m_ab = machine(COEFS, 0.0, 'targetCategory="a" alternateTargetCategory="b"')
    m_ac = machine({"v1": -1.0, "v2": 1.0}, 0.2, 'targetCategory="a" alternateTargetCategory="c" threshold="0.5"')
    m_bc = machine({"v3": 1.0}, -0.1, 'targetCategory="b" alternateTargetCategory="c"')
    model_doc = doc("classification", "<LinearKernelType/>", m_ab + m_ac + m_bc,
                    attrs='classificationMethod="OneAgainstOne"')
    got = pmml.load(model_doc).score({"x1": X1, "x2": X2})
    votes = []
    for d_ab, d_ac, d_bc in zip(decision(dot, COEFS, 0.0), decision(dot, {"v1": -1.0, "v2": 1.0}, 0.2),
                                decision(dot, {"v3": 1.0}, -0.1), strict=True):
        counts = {"a": 0, "b": 0, "c": 0}
        counts["a" if d_ab < 0 else "b"] += 1
        counts["a" if d_ac < 0.5 else "c"] += 1
        counts["b" if d_bc < 0 else "c"] += 1
        votes.append(counts)
    for cat in "abc":
        np.testing.assert_allclose(got[f"probability({cat})"], [v[cat] / 3 for v in votes], rtol=1e-15)
    for row, v in enumerate(votes):
        assert v[got["y"][row]] == max(v.values())


def test_one_against_one_tie_goes_to_the_category_voted_for_first() -> None:
    """Three machines, one vote each: the winner is the category that got its vote first (JPMML)."""
    ms = (machine({"v1": 0.0}, 1.0, 'targetCategory="c" alternateTargetCategory="a"')
          + machine({"v1": 0.0}, -1.0, 'targetCategory="b" alternateTargetCategory="c"')
          + machine({"v1": 0.0}, -1.0, 'targetCategory="c" alternateTargetCategory="b"'))
    got = pmml.load(doc("classification", "<LinearKernelType/>", ms)).score({"x1": [1.0], "x2": [1.0]})
    # Votes: a (first machine), then b, then c - one each; c comes first in the categories' order.
    assert got["y"][0] == "a"
    assert got["probability(a)"][0] == pytest.approx(1 / 3)


def test_one_against_all_picks_the_smallest_value() -> None:
    """OneAgainstAll (JPMML): the machine values are distances, the smallest wins; maxWins flips it."""
    ms = machine(COEFS, 0.0, 'targetCategory="a"') + machine({"v2": 1.0}, 0.1, 'targetCategory="b"')
    d_a, d_b = np.array(decision(dot, COEFS, 0.0)), np.array(decision(dot, {"v2": 1.0}, 0.1))
    got = pmml.load(doc("classification", "<LinearKernelType/>", ms)).score({"x1": X1, "x2": X2})
    assert list(got["y"]) == list(np.where(d_a <= d_b, "a", "b"))
    got_max = pmml.load(doc("classification", "<LinearKernelType/>", ms, attrs='maxWins="true"')).score(
        {"x1": X1, "x2": X2})
    assert list(got_max["y"]) == list(np.where(d_a >= d_b, "a", "b"))


def test_alternate_binary_target_category_reads_the_rounded_value() -> None:
    """With alternateBinaryTargetCategory, a value rounding to 1 is targetCategory, to 0 the alternate."""
    ms = machine({"v1": 0.25}, 0.0, 'targetCategory="yes"')
    model = pmml.load(doc("classification", "<LinearKernelType/>", ms, attrs='alternateBinaryTargetCategory="no"'))
    # 0.25 * (x1 + 2 x2): 0.25 -> no, 1.0 -> yes, 2.5 rounds to 3 -> the record fails.
    got = model.score({"x1": [1.0, 2.0, 10.0], "x2": [0.0, 1.0, 0.0]}, errors="collect")
    assert list(got["y"][:2]) == ["no", "yes"]
    assert isinstance(got.errors[2], EvaluationError)
    assert "round to 0 or 1" in str(got.errors[2])


def test_categorical_predictor_vector_field_is_an_indicator() -> None:
    """A CategoricalPredictor VectorField is 1 where the field equals its value, else 0."""
    model_doc = f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="colour" optype="categorical" dataType="string"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <SupportVectorMachineModel functionName="regression">
    <MiningSchema><MiningField name="colour"/><MiningField name="y" usageType="target"/></MiningSchema>
    <LinearKernelType/>
    <VectorDictionary>
      <VectorFields><CategoricalPredictor name="colour" value="red" coefficient="1"/>
        <CategoricalPredictor name="colour" value="blue" coefficient="1"/></VectorFields>
      <VectorInstance id="r"><Array type="real" n="2">1 0</Array></VectorInstance>
      <VectorInstance id="b"><Array type="real" n="2">0 1</Array></VectorInstance>
    </VectorDictionary>
    {machine({"r": 2.0, "b": -3.0}, 0.5)}
  </SupportVectorMachineModel>
</PMML>""".encode()
    got = pmml.load(model_doc).score({"colour": ["red", "blue", "green"]})
    np.testing.assert_allclose(got["y"], [2.5, -2.5, 0.5], rtol=1e-15)


def test_missing_vector_field_fails_the_record() -> None:
    """A missing input makes the record fail (JPMML raises), the others score."""
    element, kernel = KERNELS["radialBasis"]
    got = pmml.load(doc("regression", element, machine(COEFS, 0.0))).score(
        {"x1": [None, X1[0]], "x2": [1.0, X2[0]]}, errors="collect")
    assert "'x1'" in str(got.errors[0])
    assert got["y"][1] == pytest.approx(decision(kernel, COEFS, 0.0)[0], rel=1e-12)


def test_large_batches_equal_row_by_row() -> None:
    """Scoring in chunks of rows gives the same as one row at a time."""
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=600), rng.normal(size=600)
    model = pmml.load(doc("regression", KERNELS["radialBasis"][0], machine(COEFS, 0.1)))
    together = model.score({"x1": x1, "x2": x2})["y"]
    single = [model.score({"x1": [a], "x2": [b]})["y"][0] for a, b in zip(x1[:20], x2[:20], strict=True)]
    np.testing.assert_allclose(together[:20], single, rtol=0, atol=0)


@pytest.mark.parametrize(("model_doc", "message"), [
    (doc("regression", "", machine(COEFS, 0.0)), "needs one kernel element"),
    (doc("regression", "<LinearKernelType/>", machine({"v9": 1.0}, 0.0)), "vectorId 'v9' names no VectorInstance"),
    (doc("regression", "<LinearKernelType/>", machine(COEFS, 0.0)).replace(b"1 2</Array>", b"1 2 3</Array>"),
     "VectorInstance 'v1' has 3 values, the VectorFields 2"),
    (doc("regression", "<LinearKernelType/>", machine(COEFS, 0.0)).replace(b"<Indices>2</Indices>",
                                                                           b"<Indices>7</Indices>"),
     "REAL-SparseArray index 7.0 is outside 1..2"),
    (doc("regression", "<LinearKernelType/>", machine(COEFS, 0.0)).replace(b'REAL-SparseArray n="2"><Indices>2<',
                                                                           b'REAL-SparseArray n="1e12"><Indices>2<'),
     "REAL-SparseArray n=1e\\+12 does not match the 2 VectorFields"),
    (doc("regression", "<LinearKernelType/>", machine(COEFS, 0.0) * 2), "needs one SupportVectorMachine, got 2"),
    (doc("regression", "<LinearKernelType/>", machine(COEFS, 0.0), attrs='svmRepresentation="Coefficients"'),
     "svmRepresentation 'Coefficients' is not supported"),
    (doc("classification", "<LinearKernelType/>", machine(COEFS, 0.0, 'targetCategory="a"'),
         attrs='classificationMethod="OneAgainstOne"'), "OneAgainstOne machines need an alternateTargetCategory"),
    (doc("regression", '<RadialBasisKernelType gamma="wide"/>', machine(COEFS, 0.0)), "gamma must be a number"),
])
def test_invalid_documents_are_refused_at_load(model_doc: bytes, message: str) -> None:
    """Broken or unsupported markup is reported at load as DocumentProblems naming what was expected."""
    with pytest.raises(DocumentProblems, match=message):
        pmml.load(model_doc)


@pytest.mark.parametrize("coefs", [{"v3": 0.5, "v1": 0.75}, COEFS], ids=["subset-reordered", "all"])
def test_rows_together_and_alone_sum_support_vectors_in_the_machines_order(coefs: dict[str, float]) -> None:
    """Many rows, a row alone and a machine's own vector order give the in-order sums exactly."""
    element, kernel = KERNELS["radialBasis"]
    model = pmml.load(doc("regression", element, machine(coefs, 0.3)))
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(2, 30))
    together = model.score({"x1": x1, "x2": x2})["y"]
    alone = [model.score({"x1": [a], "x2": [b]})["y"][0] for a, b in zip(x1.tolist(), x2.tolist(), strict=True)]
    want = []
    for a, b in zip(x1.tolist(), x2.tolist(), strict=True):
        acc = 0.0
        for v, c in coefs.items():
            acc += c * kernel((a, b), VECTORS[v])
        want.append(acc + 0.3)
    np.testing.assert_allclose(together, alone, rtol=0, atol=0)
    np.testing.assert_allclose(together, want, rtol=1e-14)
