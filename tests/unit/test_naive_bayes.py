"""NaiveBayesModel (pmserve.pmml.models.naive_bayes) on small hand-written documents."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pmserve import pmml
from pmserve.errors import DocumentProblems

# Counts in the spirit of the DMG spec's insurance example, re-typed with other numbers.
PRIORS = {"low": 60.0, "high": 40.0}
GENDER = {"male": {"low": 30.0, "high": 25.0}, "female": {"low": 30.0, "high": 15.0}}
CAR_AGE = {"0": {"low": 20.0, "high": 0.0}, "1": {"low": 40.0, "high": 40.0}}  # a zero count
AGE = {"low": (30.0, 16.0), "high": (45.0, 25.0)}  # mean, variance
THRESHOLD = 0.001


def doc(extra_inputs: str = "", threshold: str = f'threshold="{THRESHOLD}"', age_dist: str | None = None) -> bytes:
    def counts(table: dict[str, float]) -> str:
        return "".join(f'<TargetValueCount value="{k}" count="{v}"/>' for k, v in table.items())

    gender = "".join(f'<PairCounts value="{v}"><TargetValueCounts>{counts(c)}</TargetValueCounts></PairCounts>'
                     for v, c in GENDER.items())
    car = "".join(f'<PairCounts value="{v}"><TargetValueCounts>{counts(c)}</TargetValueCounts></PairCounts>'
                  for v, c in CAR_AGE.items())
    age = age_dist or "".join(
        f'<TargetValueStat value="{k}"><GaussianDistribution mean="{m}" variance="{v}"/></TargetValueStat>'
        for k, (m, v) in AGE.items())
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="gender" optype="categorical" dataType="string"/>
    <DataField name="car age" optype="continuous" dataType="double"/>
    <DataField name="age" optype="continuous" dataType="double"/>
    <DataField name="risk" optype="categorical" dataType="string"/>
  </DataDictionary>
  <NaiveBayesModel functionName="classification" {threshold}>
    <MiningSchema>
      <MiningField name="gender"/><MiningField name="car age"/><MiningField name="age"/>
      <MiningField name="risk" usageType="target"/>
    </MiningSchema>
    <Output><OutputField name="p_high" feature="probability" value="high"/></Output>
    <BayesInputs>
      <BayesInput fieldName="gender">{gender}</BayesInput>
      <BayesInput fieldName="car age">
        <DerivedField optype="categorical" dataType="string">
          <Discretize field="car age">
            <DiscretizeBin binValue="0"><Interval closure="closedOpen" leftMargin="0" rightMargin="5"/></DiscretizeBin>
            <DiscretizeBin binValue="1"><Interval closure="closedOpen" leftMargin="5"/></DiscretizeBin>
          </Discretize>
        </DerivedField>
        {car}
      </BayesInput>
      <BayesInput fieldName="age"><TargetValueStats>{age}</TargetValueStats></BayesInput>
      {extra_inputs}
    </BayesInputs>
    <BayesOutput fieldName="risk"><TargetValueCounts>{counts(PRIORS)}</TargetValueCounts></BayesOutput>
  </NaiveBayesModel>
</PMML>""".encode()


def reference(gender: str | None, car_age: float | None, age: float | None) -> dict[str, float]:
    """Naive Bayes by the spec's formula: prior * product of P(value | class), then normalised."""
    score = {}
    for k, prior in PRIORS.items():
        p = prior
        if gender is not None:
            p *= GENDER[gender][k] / sum(c[k] for c in GENDER.values())
        if car_age is not None:
            count = CAR_AGE["0" if car_age < 5 else "1"][k]
            p *= THRESHOLD if count == 0 else count / sum(c[k] for c in CAR_AGE.values())
        if age is not None:
            mean, var = AGE[k]
            p *= max(math.exp(-((age - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var), THRESHOLD)
        score[k] = p
    total = sum(score.values())
    return {k: v / total for k, v in score.items()}


ROWS: list[tuple[str | None, float | None, float | None]] = [
    ("male", 2.0, 31.0), ("female", 7.0, 44.0), (None, 1.0, 60.0), ("male", None, None), ("female", 3.0, 200.0),
]


def score(model_doc: bytes) -> pmml.Scored:
    g, c, a = zip(*ROWS, strict=True)
    return pmml.load(model_doc).score({"gender": list(g), "car age": list(c), "age": list(a)})


def test_probabilities_follow_counts_densities_and_threshold() -> None:
    """Priors times count ratios, Gaussian densities and threshold-floored zero counts, normalised."""
    got = score(doc())
    expected = [reference(*row) for row in ROWS]
    np.testing.assert_allclose(got["p_high"], [e["high"] for e in expected], rtol=1e-12)
    assert list(got["risk"]) == [max(e, key=lambda k: e[k]) for e in expected]


def test_missing_inputs_are_ignored() -> None:
    """A missing value contributes nothing; with every input missing the priors decide."""
    got = pmml.load(doc()).score({"gender": [None], "car age": [None], "age": [None]})
    assert got["p_high"][0] == pytest.approx(PRIORS["high"] / sum(PRIORS.values()), rel=1e-12)


def test_unknown_category_is_ignored() -> None:
    """A value no PairCounts names adds nothing to any class."""
    got = pmml.load(doc()).score({"gender": ["other"], "car age": [None], "age": [None]})
    assert got["p_high"][0] == pytest.approx(0.4, rel=1e-12)


def test_poisson_distribution_gives_the_probability_mass() -> None:
    """A PoissonDistribution contributes exp(-mean) mean^k / k! at k = the input value."""
    dist = ('<TargetValueStat value="low"><PoissonDistribution mean="2"/></TargetValueStat>'
            '<TargetValueStat value="high"><PoissonDistribution mean="5"/></TargetValueStat>')
    got = pmml.load(doc(age_dist=dist)).score({"gender": [None, None], "car age": [None, None], "age": [3.0, 0.0]})

    def pmf(mean: float, k: int) -> float:
        return math.exp(-mean) * mean**k / math.factorial(k)

    for row, k in enumerate((3, 0)):
        low, high = 60 * max(pmf(2, k), THRESHOLD), 40 * max(pmf(5, k), THRESHOLD)
        assert got["p_high"][row] == pytest.approx(high / (low + high), rel=1e-12)


def test_extension_wrapped_bayes_input_is_read() -> None:
    """R's pmml package puts continuous BayesInputs inside an Extension of BayesInputs; they still count."""
    extra = """<Extension><BayesInput fieldName="age"><TargetValueStats>
      <TargetValueStat value="low"><GaussianDistribution mean="0" variance="1"/></TargetValueStat>
      <TargetValueStat value="high"><GaussianDistribution mean="1" variance="1"/></TargetValueStat>
    </TargetValueStats></BayesInput></Extension>"""
    got = pmml.load(doc(extra)).score({"gender": [None], "car age": [None], "age": [0.5]})
    base = reference(None, None, 0.5)
    # The second age input has equal densities at 0.5 for both classes: the result does not move.
    assert got["p_high"][0] == pytest.approx(base["high"], rel=1e-12)


def test_batch_equals_row_by_row() -> None:
    """Scoring rows together gives the same as one at a time."""
    model = pmml.load(doc())
    g, c, a = zip(*ROWS, strict=True)
    together = model.score({"gender": list(g), "car age": list(c), "age": list(a)})["p_high"]
    single = [model.score({"gender": [x], "car age": [y], "age": [z]})["p_high"][0] for x, y, z in ROWS]
    np.testing.assert_allclose(together, single, rtol=1e-15)


@pytest.mark.parametrize(("model_doc", "message"), [
    (doc(threshold=""), "attribute threshold is required"),
    (doc().replace(b'count="60.0"', b""), r"TargetValueCount \(line \d+\): attribute count is required"),
    (doc().replace(b'<BayesInput fieldName="gender">', b'<BayesInput fieldName="sex">'),
     "field 'sex' is not defined"),
    (doc(age_dist='<TargetValueStat value="low"><UniformDistribution lower="0" upper="1"/></TargetValueStat>'),
     "GaussianDistribution or PoissonDistribution, got UniformDistribution"),
    (doc().replace(b'<BayesOutput fieldName="risk">', b'<BayesOutput fieldName="other">'),
     "BayesOutput fieldName 'other' is not the target field 'risk'"),
])
def test_invalid_documents_are_refused_at_load(model_doc: bytes, message: str) -> None:
    """Broken markup is reported at load as DocumentProblems naming what was expected."""
    with pytest.raises(DocumentProblems, match=message):
        pmml.load(model_doc)
