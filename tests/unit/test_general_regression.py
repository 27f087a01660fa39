"""GeneralRegressionModel: every modelType, link, option and load-time problem, on small documents."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

from pmserve.errors import DataError, DocumentProblems
from pmserve.pmml import load

# -- document builders -----------------------------------------------------------------------------



def field(name: str, optype: str, dtype: str, *values: str) -> str:
    inner = "".join(f'<Value value="{v}"/>' for v in values)
    return f'<DataField name="{name}" optype="{optype}" dataType="{dtype}">{inner}</DataField>'


_FIELDS = "".join([
    field("y", "continuous", "double"), field("x", "continuous", "double"), field("z", "continuous", "double"),
    field("f", "categorical", "string", "a", "b", "c"), field("cls", "categorical", "string", "lo", "mid", "hi"),
    field("bin", "categorical", "string", "no", "yes"), field("rank", "ordinal", "integer", "1", "2", "3"),
])

B0, B1, B2, B3, B4 = 0.5, 1.25, -0.75, 0.1, 2.0


def pmml(model: str, fields: str = _FIELDS) -> bytes:
    return (f'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>'
            f"<DataDictionary>{fields}</DataDictionary>{model}</PMML>").encode()


def mining(target: str, *active: str) -> str:
    cells = "".join(f'<MiningField name="{a}"/>' for a in active)
    return f'<MiningSchema><MiningField name="{target}" usageType="target"/>{cells}</MiningSchema>'


def params(*names: str) -> str:
    return "<ParameterList>" + "".join(f'<Parameter name="{n}"/>' for n in names) + "</ParameterList>"


#: intercept p0, covariate x (p1), factor f=a (p2), x squared (p3), interaction f=a * x (p4).
_LINEAR_BODY = f"""
{params("p0", "p1", "p2", "p3", "p4")}
<FactorList><Predictor name="f"/></FactorList>
<CovariateList><Predictor name="x"/></CovariateList>
<PPMatrix>
  <PPCell value="1" predictorName="x" parameterName="p1"/>
  <PPCell value="a" predictorName="f" parameterName="p2"/>
  <PPCell value="2" predictorName="x" parameterName="p3"/>
  <PPCell value="a" predictorName="f" parameterName="p4"/>
  <PPCell value="1" predictorName="x" parameterName="p4"/>
</PPMatrix>
<ParamMatrix>
  <PCell parameterName="p0" beta="{B0}" df="1"/>
  <PCell parameterName="p1" beta="{B1}" df="1"/>
  <PCell parameterName="p2" beta="{B2}" df="1"/>
  <PCell parameterName="p3" beta="{B3}" df="1"/>
  <PCell parameterName="p4" beta="{B4}" df="1"/>
</ParamMatrix>
"""


def linear_model(model_type: str = "regression", attrs: str = "", extra: str = "", active: str = "x f") -> bytes:
    return pmml(f'<GeneralRegressionModel modelType="{model_type}" functionName="regression" {attrs}>'
                f"{mining('y', *active.split())}{extra}{_LINEAR_BODY}</GeneralRegressionModel>")


def eta(x: np.ndarray, f: list[str]) -> np.ndarray:
    is_a = np.array([v == "a" for v in f], dtype=float)
    out: np.ndarray = B0 + B1 * x + B2 * is_a + B3 * x**2 + B4 * is_a * x
    return out


X = np.array([0.5, -1.0, 2.0, 3.5])
F = ["a", "b", "a", "c"]


# -- linear models ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["regression", "generalLinear"])
def test_linear_model_sums_beta_times_ppmatrix_products(model_type: str) -> None:
    """Factors match by value, covariates take their exponent, cells of one parameter multiply."""
    scored = load(linear_model(model_type)).score({"x": X, "f": F})
    assert_allclose(scored["y"], eta(X, F), rtol=1e-12)


def test_missing_factor_makes_the_prediction_missing() -> None:
    """A factor without a value leaves the linear predictor undefined (no prediction)."""
    scored = load(linear_model()).score({"x": [1.0, 1.0], "f": [None, "b"]})
    assert math.isnan(scored["y"][0])
    assert scored["y"][1] == pytest.approx(B0 + B1 + B3)


def test_missing_covariate_makes_the_prediction_missing() -> None:
    """A covariate without a value leaves the linear predictor undefined."""
    scored = load(linear_model()).score({"x": [None], "f": ["b"]})
    assert math.isnan(scored["y"][0])


def test_missing_value_takes_the_targets_default_value() -> None:
    """Where the model has no prediction, Targets/@defaultValue applies."""
    targets = '<Targets><Target field="y"><TargetValue defaultValue="-7"/></Target></Targets>'
    scored = load(linear_model(extra=targets)).score({"x": [None, 1.0], "f": ["a", "b"]})
    assert scored["y"][0] == pytest.approx(-7.0)
    assert scored["y"][1] == pytest.approx(B0 + B1 + B3)


def test_covariates_of_a_term_whose_factor_does_not_match_are_not_needed() -> None:
    """As in JPMML-Evaluator, a term whose factors do not match is 0 whatever its covariates."""
    body = f"""{params("p0", "p1")}
    <FactorList><Predictor name="f"/></FactorList><CovariateList><Predictor name="z"/></CovariateList>
    <PPMatrix><PPCell value="a" predictorName="f" parameterName="p1"/>
      <PPCell value="1" predictorName="z" parameterName="p1"/></PPMatrix>
    <ParamMatrix><PCell parameterName="p0" beta="{B0}"/><PCell parameterName="p1" beta="{B1}"/></ParamMatrix>"""
    model = load(pmml(f'<GeneralRegressionModel modelType="regression" functionName="regression">'
                      f'{mining("y", "f", "z")}{body}</GeneralRegressionModel>'))
    scored = model.score({"f": ["b", "a", "a"], "z": [None, None, 2.0]})
    assert scored["y"][0] == pytest.approx(B0)
    assert math.isnan(scored["y"][1])
    assert scored["y"][2] == pytest.approx(B0 + 2.0 * B1)


def test_batch_equals_rows_scored_one_by_one() -> None:
    """Scoring rows together gives the same values as scoring them one at a time."""
    model = load(linear_model())
    together = model.score({"x": X, "f": F})["y"]
    alone = [model.score({"x": [x], "f": [f]})["y"][0] for x, f in zip(X, F, strict=True)]
    assert_allclose(together, alone, rtol=1e-15)


# -- generalizedLinear -------------------------------------------------------------------------------


def _inverse(link: str, v: np.ndarray, p: float) -> np.ndarray:
    table: dict[str, Any] = {
        "identity": lambda: v,
        "log": lambda: np.exp(v),
        "logc": lambda: 1.0 - np.exp(v),
        "logit": lambda: 1.0 / (1.0 + np.exp(-v)),
        "cloglog": lambda: 1.0 - np.exp(-np.exp(v)),
        "loglog": lambda: np.exp(-np.exp(-v)),
        "probit": lambda: np.array([0.5 * math.erfc(-t / math.sqrt(2.0)) for t in v]),
        "negbin": lambda: 1.0 / (p * (np.exp(-v) - 1.0)),
        "oddspower": lambda: 1.0 / (1.0 + (1.0 + p * v) ** (-1.0 / p)),
        "power": lambda: v ** (1.0 / p),
        "cauchit": lambda: 0.5 + np.arctan(v) / math.pi,
    }
    out: np.ndarray = table[link]()
    return out


@pytest.mark.parametrize("link", ["identity", "log", "logc", "logit", "cloglog", "loglog", "probit", "negbin",
                                  "oddspower", "power", "cauchit"])
def test_generalized_linear_applies_the_inverse_link(link: str) -> None:
    """The mean is the inverse link of the linear predictor (PMML linkFunction)."""
    param = 0.5
    attrs = f'linkFunction="{link}"'
    if link == "negbin":
        attrs += f' distParameter="{param}"'
    if link in ("oddspower", "power"):
        attrs += f' linkParameter="{param}"'
    x = np.array([0.1, 0.2, 0.3])
    f = ["b", "c", "b"]
    scored = load(linear_model("generalizedLinear", attrs)).score({"x": x, "f": f})
    assert_allclose(scored["y"], _inverse(link, eta(x, f), param), rtol=1e-12)


@pytest.mark.parametrize(("link", "fallback"), [("power", "log"), ("oddspower", "logit")])
def test_zero_link_parameter_falls_back_to_the_limit_link(link: str, fallback: str) -> None:
    """power(0) is the log link and oddspower(0) the logit link."""
    x = np.array([0.1, 0.4])
    f = ["b", "a"]
    scored = load(linear_model("generalizedLinear", f'linkFunction="{link}" linkParameter="0"')).score(
        {"x": x, "f": f})
    assert_allclose(scored["y"], _inverse(fallback, eta(x, f), 0.0), rtol=1e-12)


def test_offset_value_is_added_and_trials_value_multiplies() -> None:
    """offsetValue is added before the link, trialsValue multiplies after it."""
    attrs = 'linkFunction="logit" offsetValue="0.25" trialsValue="4"'
    scored = load(linear_model("generalizedLinear", attrs)).score({"x": X, "f": F})
    assert_allclose(scored["y"], 4.0 * _inverse("logit", eta(X, F) + 0.25, 0.0), rtol=1e-12)


def test_offset_and_trials_variables_are_read_per_record() -> None:
    """offsetVariable and trialsVariable take each record's value."""
    attrs = 'linkFunction="log" offsetVariable="z" trialsVariable="n"'
    fields = _FIELDS + '<DataField name="n" optype="continuous" dataType="integer"/>'
    doc = pmml(f'<GeneralRegressionModel modelType="generalizedLinear" functionName="regression" {attrs}>'
               f'{mining("y", "x", "f", "z", "n")}{_LINEAR_BODY}</GeneralRegressionModel>', fields)
    z = np.array([0.0, 1.0, -0.5, 0.2])
    n = np.array([1, 2, 3, 4])
    scored = load(doc).score({"x": X, "f": F, "z": z, "n": n})
    assert_allclose(scored["y"], n * np.exp(eta(X, F) + z), rtol=1e-12)


def test_fractional_trials_variable_fails_the_record() -> None:
    """The number of trials is a whole number; a record with another value cannot be scored."""
    attrs = 'linkFunction="identity" trialsVariable="z"'
    model = load(linear_model("generalizedLinear", attrs, active="x f z"))
    scored = model.score({"x": [1.0, 1.0], "f": ["a", "a"], "z": [2.5, 2.0]}, errors="collect")
    assert set(scored.errors) == {0}
    assert scored["y"][1] == pytest.approx(2.0 * eta(np.array([1.0]), ["a"])[0])
    with pytest.raises(DataError, match="trialsVariable field 'z' must hold a whole number"):
        model.score({"x": [1.0], "f": ["a"], "z": [2.5]})


def test_missing_offset_variable_fails_the_record() -> None:
    """A record without its offsetVariable value cannot be scored (JPMML raises too)."""
    attrs = 'linkFunction="identity" offsetVariable="z"'
    model = load(linear_model("generalizedLinear", attrs, active="x f z"))
    scored = model.score({"x": [1.0, 1.0], "f": ["a", "a"], "z": [None, 1.0]}, errors="collect")
    assert set(scored.errors) == {0}
    assert "offsetVariable field 'z'" in scored.errors[0].message
    with pytest.raises(DataError, match="offsetVariable field 'z' has a missing value"):
        model.score({"x": [1.0], "f": ["a"], "z": [None]})


# -- classification --------------------------------------------------------------------------------


def _multinomial(reference: str | None = 'targetReferenceCategory="lo"', cells: str | None = None) -> bytes:
    cells = cells if cells is not None else """
      <PCell targetCategory="mid" parameterName="p0" beta="0.3"/>
      <PCell targetCategory="mid" parameterName="p1" beta="0.8"/>
      <PCell targetCategory="hi" parameterName="p0" beta="-0.2"/>
      <PCell targetCategory="hi" parameterName="p1" beta="1.5"/>"""
    body = f"""{params("p0", "p1")}<CovariateList><Predictor name="x"/></CovariateList>
    <PPMatrix><PPCell value="1" predictorName="x" parameterName="p1"/></PPMatrix><ParamMatrix>{cells}</ParamMatrix>"""
    return pmml(f'<GeneralRegressionModel modelType="multinomialLogistic" functionName="classification" '
                f'{reference or ""}>{mining("cls", "x")}{body}</GeneralRegressionModel>')


def test_multinomial_logistic_normalises_exponentials_with_the_reference_at_zero() -> None:
    """P(k) = exp(eta_k) / (1 + sum exp(eta_j)); the reference category's eta is 0."""
    x = np.array([-2.0, 0.0, 1.0, 3.0])
    scored = load(_multinomial()).score({"x": x})
    e_mid, e_hi = np.exp(0.3 + 0.8 * x), np.exp(-0.2 + 1.5 * x)
    total = 1.0 + e_mid + e_hi
    assert_allclose(scored["probability(mid)"], e_mid / total, rtol=1e-12)
    assert_allclose(scored["probability(hi)"], e_hi / total, rtol=1e-12)
    assert_allclose(scored["probability(lo)"], 1.0 / total, rtol=1e-12)
    best = np.array(["lo", "mid", "hi"])[np.argmax(np.column_stack([1.0 / total, e_mid / total, e_hi / total]), 1)]
    assert list(scored["cls"]) == list(best)


def test_reference_category_is_the_class_without_pcells() -> None:
    """Without targetReferenceCategory, the class the ParamMatrix never names is the reference."""
    with_attr = load(_multinomial()).score({"x": [0.7]})
    inferred = load(_multinomial(reference=None)).score({"x": [0.7]})
    for cat in ("lo", "mid", "hi"):
        assert inferred[f"probability({cat})"][0] == pytest.approx(with_attr[f"probability({cat})"][0], rel=1e-15)


def test_equal_probabilities_pick_the_first_class_in_model_order() -> None:
    """Ties go to the first class in order (DataDictionary order, reference last)."""
    cells = ('<PCell targetCategory="mid" parameterName="p0" beta="0"/>'
             '<PCell targetCategory="hi" parameterName="p0" beta="0"/>')
    scored = load(_multinomial(cells=cells)).score({"x": [1.0]})
    assert scored["cls"][0] == "mid"
    assert scored["probability(lo)"][0] == pytest.approx(1.0 / 3.0)


def test_missing_input_gives_the_prior_probabilities() -> None:
    """A classifier without a linear predictor falls back to the Targets' priors."""
    doc = _multinomial().replace(b"</MiningSchema>", b"</MiningSchema><Targets><Target field=\"cls\">"
                                 b'<TargetValue value="lo" priorProbability="0.2"/>'
                                 b'<TargetValue value="mid" priorProbability="0.5"/>'
                                 b'<TargetValue value="hi" priorProbability="0.3"/></Target></Targets>')
    scored = load(doc).score({"x": [None]})
    assert scored["cls"][0] == "mid"
    assert scored["probability(hi)"][0] == pytest.approx(0.3)


def _binomial(link: str) -> bytes:
    body = f"""{params("p0", "p1")}<CovariateList><Predictor name="x"/></CovariateList>
    <PPMatrix><PPCell value="1" predictorName="x" parameterName="p1"/></PPMatrix>
    <ParamMatrix><PCell targetCategory="yes" parameterName="p0" beta="-0.4"/>
      <PCell targetCategory="yes" parameterName="p1" beta="1.1"/></ParamMatrix>"""
    return pmml(f'<GeneralRegressionModel modelType="generalizedLinear" functionName="classification" '
                f'linkFunction="{link}" distribution="binomial">{mining("bin", "x")}{body}</GeneralRegressionModel>')


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_binomial_generalized_linear_gives_the_other_class_the_complement(link: str) -> None:
    """The modelled class gets the inverse link; the reference class one minus it."""
    x = np.array([-1.0, 0.2, 2.0])
    scored = load(_binomial(link)).score({"x": x})
    p = _inverse(link, -0.4 + 1.1 * x, 0.0)
    assert_allclose(scored["probability(yes)"], p, rtol=1e-12)
    assert_allclose(scored["probability(no)"], 1.0 - p, rtol=1e-12)


def _ordinal(link: str) -> bytes:
    body = f"""{params("p0", "p1")}<CovariateList><Predictor name="x"/></CovariateList>
    <PPMatrix><PPCell value="1" predictorName="x" parameterName="p1"/></PPMatrix>
    <ParamMatrix><PCell targetCategory="1" parameterName="p0" beta="-0.5"/>
      <PCell targetCategory="2" parameterName="p0" beta="1.0"/><PCell parameterName="p1" beta="0.7"/></ParamMatrix>"""
    return pmml(f'<GeneralRegressionModel modelType="ordinalMultinomial" functionName="classification" '
                f'cumulativeLink="{link}">{mining("rank", "x")}{body}</GeneralRegressionModel>')


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog", "loglog", "cauchit"])
def test_ordinal_probabilities_are_differences_of_cumulative_links(link: str) -> None:
    """P(k) = F(theta_k + eta) - F(theta_k-1 + eta), the last class takes the rest."""
    x = np.array([-1.5, 0.0, 0.8])
    scored = load(_ordinal(link)).score({"x": x})
    c1 = _inverse(link, -0.5 + 0.7 * x, 0.0)
    c2 = _inverse(link, 1.0 + 0.7 * x, 0.0)
    assert_allclose(scored["probability(1)"], c1, rtol=1e-12)
    assert_allclose(scored["probability(2)"], c2 - c1, rtol=1e-12, atol=1e-15)
    assert_allclose(scored["probability(3)"], 1.0 - c2, rtol=1e-12, atol=1e-15)


def test_ppcells_with_a_target_category_override_the_common_ones() -> None:
    """A class's own PPCells replace the common PPMatrix rows for that class."""
    body = f"""{params("p0", "p1")}<CovariateList><Predictor name="x"/><Predictor name="z"/></CovariateList>
    <PPMatrix><PPCell value="1" predictorName="x" parameterName="p1"/>
      <PPCell value="1" predictorName="z" parameterName="p1" targetCategory="hi"/></PPMatrix>
    <ParamMatrix><PCell targetCategory="mid" parameterName="p1" beta="0.5"/>
      <PCell targetCategory="hi" parameterName="p1" beta="0.25"/></ParamMatrix>"""
    doc = pmml(f'<GeneralRegressionModel modelType="multinomialLogistic" functionName="classification" '
               f'targetReferenceCategory="lo">{mining("cls", "x", "z")}{body}</GeneralRegressionModel>')
    scored = load(doc).score({"x": [2.0], "z": [-4.0]})
    e_mid, e_hi = math.exp(0.5 * 2.0), math.exp(0.25 * -4.0)
    assert scored["probability(hi)"][0] == pytest.approx(e_hi / (1.0 + e_mid + e_hi), rel=1e-12)


# -- contrast matrices -------------------------------------------------------------------------------


def _contrast(matrix: str) -> bytes:
    body = f"""{params("p0", "p1", "p2")}
    <FactorList><Predictor name="f" contrastMatrixType="Helmert">
      <Categories><Category value="a"/><Category value="b"/><Category value="c"/></Categories>{matrix}
    </Predictor></FactorList>
    <PPMatrix><PPCell value="a" predictorName="f" parameterName="p1"/>
      <PPCell value="b" predictorName="f" parameterName="p2"/></PPMatrix>
    <ParamMatrix><PCell parameterName="p0" beta="{B0}"/><PCell parameterName="p1" beta="{B1}"/>
      <PCell parameterName="p2" beta="{B2}"/></ParamMatrix>"""
    return pmml(f'<GeneralRegressionModel modelType="generalLinear" functionName="regression">'
                f'{mining("y", "f")}{body}</GeneralRegressionModel>')


_HELMERT = np.array([[2 / 3, 0.0], [-1 / 3, 0.5], [-1 / 3, -0.5]])


@pytest.mark.parametrize("matrix", [
    '<Matrix nbRows="3" nbCols="2"><Array type="real" n="2">0.6666666666666666 0</Array>'
    '<Array type="real" n="2">-0.3333333333333333 0.5</Array>'
    '<Array type="real" n="2">-0.3333333333333333 -0.5</Array></Matrix>',
    '<Matrix nbRows="3" nbCols="2" offDiagDefault="0"><MatCell row="1" col="1">0.6666666666666666</MatCell>'
    '<MatCell row="2" col="1">-0.3333333333333333</MatCell><MatCell row="2" col="2">0.5</MatCell>'
    '<MatCell row="3" col="1">-0.3333333333333333</MatCell><MatCell row="3" col="2">-0.5</MatCell></Matrix>',
], ids=["arrays", "matcells"])
def test_contrast_matrix_codes_a_factor_by_its_category_row(matrix: str) -> None:
    """A factor with a contrast Matrix contributes the element at (its value, the PPCell's value)."""
    scored = load(_contrast(matrix)).score({"f": ["a", "b", "c"]})
    expected = B0 + B1 * _HELMERT[:, 0] + B2 * _HELMERT[:, 1]
    assert_allclose(scored["y"], expected, rtol=1e-12)


@pytest.mark.parametrize(("matrix", "dense"), [
    ('<Matrix kind="diagonal" offDiagDefault="0"><Array type="real" n="3">1 2 3</Array></Matrix>',
     [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]),
    ('<Matrix kind="symmetric"><Array n="1">1</Array><Array n="2">2 3</Array><Array n="3">4 5 6</Array></Matrix>',
     [[1.0, 2.0, 4.0], [2.0, 3.0, 5.0], [4.0, 5.0, 6.0]]),
    ('<Matrix kind="symmetric" diagDefault="1" offDiagDefault="0"><MatCell row="3" col="1">7</MatCell></Matrix>',
     [[1.0, 0.0, 7.0], [0.0, 1.0, 0.0], [7.0, 0.0, 1.0]]),
], ids=["diagonal", "symmetric-arrays", "symmetric-matcells"])
def test_diagonal_and_symmetric_matrices_expand_to_full_ones(matrix: str, dense: list[list[float]]) -> None:
    """Matrix kinds diagonal and symmetric fill the elements they leave out."""
    m = np.array(dense)
    scored = load(_contrast(matrix)).score({"f": ["a", "b", "c"]})
    assert_allclose(scored["y"], B0 + B1 * m[:, 0] + B2 * m[:, 1], rtol=1e-12)


def test_value_outside_the_contrast_categories_fails_the_record() -> None:
    """A factor value the contrast Matrix has no row for cannot be coded."""
    fields = _FIELDS.replace('<Value value="c"/>', '<Value value="c"/><Value value="d"/>')
    doc = _contrast('<Matrix><Array n="2">1 0</Array><Array n="2">0 1</Array><Array n="2">-1 -1</Array></Matrix>')
    model = load(doc.replace(_FIELDS.encode(), fields.encode()))
    scored = model.score({"f": ["d", "a"]}, errors="collect")
    assert set(scored.errors) == {0}
    assert scored["y"][1] == pytest.approx(B0 + B1)
    with pytest.raises(DataError, match="not one of the Categories of its contrast Matrix"):
        model.score({"f": ["d"]})


# -- Cox regression ----------------------------------------------------------------------------------

_COX_FIELDS = _FIELDS + field("t", "continuous", "double") + field("g", "categorical", "integer", "1", "2", "3")
_CELLS = ('<BaselineCell time="1" cumHazard="0.1"/><BaselineCell time="3" cumHazard="0.4"/>'
          '<BaselineCell time="6" cumHazard="0.9"/>')


def _cox(tables: str, attrs: str = 'endTimeVariable="t"', active: str = "x t") -> bytes:
    body = f"""<ParameterList><Parameter name="p1" referencePoint="1.5"/></ParameterList>
    <CovariateList><Predictor name="x"/></CovariateList>
    <PPMatrix><PPCell value="1" predictorName="x" parameterName="p1"/></PPMatrix>
    <ParamMatrix><PCell parameterName="p1" beta="0.4"/></ParamMatrix>{tables}"""
    return pmml(f'<GeneralRegressionModel modelType="CoxRegression" functionName="regression" {attrs}>'
                f'{mining("y", *active.split())}{body}</GeneralRegressionModel>', _COX_FIELDS)


def test_cox_cumulative_hazard_scales_the_baseline_at_the_last_time_not_after() -> None:
    """Hazard = H0(largest baseline time <= t) * exp(beta . (x - reference point))."""
    model = load(_cox(f'<BaseCumHazardTables maxTime="8">{_CELLS}</BaseCumHazardTables>'))
    x = np.array([1.0, 2.0, 0.0, 1.5])
    t = np.array([1.0, 4.5, 6.0, 8.0])
    scored = model.score({"x": x, "t": t})
    assert_allclose(scored["y"], np.array([0.1, 0.4, 0.9, 0.9]) * np.exp(0.4 * (x - 1.5)), rtol=1e-12)


def test_cox_before_the_first_time_has_no_hazard_and_after_max_time_no_prediction() -> None:
    """Below the smallest baseline time the hazard is 0; beyond maxTime it is missing."""
    model = load(_cox(f'<BaseCumHazardTables maxTime="8">{_CELLS}</BaseCumHazardTables>'))
    scored = model.score({"x": [None, 1.0], "t": [0.5, 8.5]})
    assert scored["y"][0] == 0.0
    assert math.isnan(scored["y"][1])


def test_cox_without_end_time_fails_the_record() -> None:
    """The endTimeVariable is needed to read the baseline table."""
    model = load(_cox(f'<BaseCumHazardTables maxTime="8">{_CELLS}</BaseCumHazardTables>'))
    with pytest.raises(DataError, match="endTimeVariable field 't' has a missing value"):
        model.score({"x": [1.0], "t": [None]})


def test_cox_strata_pick_the_baseline_table_of_the_record() -> None:
    """With baselineStrataVariable each stratum has its own table; an unknown stratum predicts nothing."""
    tables = (f'<BaseCumHazardTables><BaselineStratum value="1" maxTime="8">{_CELLS}</BaselineStratum>'
              '<BaselineStratum value="2" maxTime="4"><BaselineCell time="2" cumHazard="0.3"/></BaselineStratum>'
              '</BaseCumHazardTables>')
    model = load(_cox(tables, 'endTimeVariable="t" baselineStrataVariable="g"', "x t g"))
    scored = model.score({"x": [1.5, 1.5, 1.5, 1.5], "t": [3.0, 3.0, 5.0, 3.0], "g": [1, 2, 2, 3]},
                         errors="collect")
    assert_allclose(scored["y"][:2], [0.4, 0.3], rtol=1e-12)
    assert math.isnan(scored["y"][2])
    assert math.isnan(scored["y"][3])
    assert not scored.errors


# -- load-time problems --------------------------------------------------------------------------------


def _replace(doc: bytes, old: str, new: str) -> bytes:
    assert old.encode() in doc
    return doc.replace(old.encode(), new.encode(), 1)


@pytest.mark.parametrize(("doc", "message"), [
    (_replace(linear_model(), 'modelType="regression" ', ""), "attribute modelType is required"),
    (_replace(linear_model(), 'modelType="regression"', 'modelType="lasso"'), "modelType must be one of"),
    (_replace(linear_model(), 'functionName="regression"', 'functionName="classification"'),
     "modelType regression does not fit functionName 'classification'"),
    (linear_model("generalizedLinear"), "attribute linkFunction is required"),
    (linear_model("generalizedLinear", 'linkFunction="probitx"'), "linkFunction must be one of"),
    (linear_model("generalizedLinear", 'linkFunction="power"'), "attribute linkParameter is required"),
    (linear_model("generalizedLinear", 'linkFunction="negbin"'), "attribute distParameter is required"),
    (linear_model("generalizedLinear", 'linkFunction="log" trialsValue="2.5"'), "trialsValue must be a whole"),
    (_replace(linear_model(), 'predictorName="x" parameterName="p1"', 'predictorName="w" parameterName="p1"'),
     "PPCell predictorName 'w' is in neither the FactorList nor the CovariateList"),
    (_replace(linear_model(), 'value="2" predictorName="x"', 'value="two" predictorName="x"'),
     "is its exponent and must be a number"),
    (_replace(linear_model(), f'beta="{B3}"', 'beta="big"'), "attribute beta must be a number"),
    (linear_model().replace(b"predictorName=", b'targetCategory="1" predictorName='),
     "PPMatrix of a regression model needs PPCells without targetCategory"),
    (_replace(linear_model(), '<PCell parameterName="p0"', '<PCell targetCategory="1" parameterName="p0"'),
     "needs PCells without targetCategory, and only those"),
    (_replace(linear_model(), "<CovariateList><Predictor name=\"x\"/></CovariateList>",
              "<CovariateList><Predictor name=\"f\"/></CovariateList>"), "covariate 'f' must be numeric"),
    (_replace(linear_model(), "<ParamMatrix>", "<ParamMatrixX>").replace(b"</ParamMatrix>", b"</ParamMatrixX>"),
     "needs a ParamMatrix"),
    (_multinomial(reference=None, cells='<PCell targetCategory="mid" parameterName="p0" beta="1"/>'),
     "cannot tell the reference category: expected exactly one class"),
    (_replace(_ordinal("logit"), ' cumulativeLink="logit"', ""), "attribute cumulativeLink is required"),
    (_replace(_ordinal("logit"), 'targetCategory="2" parameterName="p0"', 'targetCategory="2" parameterName="p2"'
              ).replace(b'</ParamMatrix>', b'<PCell targetCategory="2" parameterName="p0" beta="1"/></ParamMatrix>'),
     "needs exactly one PCell \\(the intercept\\) for class 2"),
    (_cox(f'<BaseCumHazardTables maxTime="8">{_CELLS}</BaseCumHazardTables>', ""),
     "needs attribute endTimeVariable"),
    (_cox(""), "needs BaseCumHazardTables"),
    (_cox('<BaseCumHazardTables maxTime="8"/>'), "BaseCumHazardTables needs at least one BaselineCell"),
    (_contrast('<Matrix><Array n="2">1 0</Array></Matrix>'), "has 1 rows, expected one per Category \\(3\\)"),
    (_contrast('<Matrix nbRows="-3"><Array n="2">1 0</Array></Matrix>'),
     "attribute nbRows must be an integer from 0 to 2000, got '-3'"),
    (_contrast('<Matrix><MatCell row="0" col="1">1</MatCell></Matrix>'),
     r"MatCell \(line \d+\): attribute row must be an integer from 1 to 2000, got '0'"),
    (_contrast('<Matrix><Array n="2">1 x</Array></Matrix>'), "Matrix Array elements must hold numbers"),
    (_contrast('<Matrix><Array n="2">1 0</Array><Array n="2">0 1</Array><Array n="2">1 1</Array></Matrix>').replace(
        b'<PPCell value="b"', b'<PPCell value="q"'), "PPCell value 'q' of factor 'f' is not one of its Categories"),
    (linear_model("generalizedLinear", 'linkFunction="log" trialsValue="INF"'), "trialsValue must be a whole"),
], ids=lambda v: v if isinstance(v, str) else "doc")
def test_bad_documents_are_refused_at_load_naming_the_problem(doc: bytes, message: str) -> None:
    """Invalid markup is reported at load with the element, line and what was expected."""
    with pytest.raises(DocumentProblems, match=message) as info:
        load(doc)
    assert all(p.line for p in info.value.problems)


def test_contrast_matrix_without_categories_is_unsupported() -> None:
    """Without Categories the rows of a contrast Matrix cannot be matched to values."""
    doc = _contrast('<Matrix><Array n="2">1 0</Array><Array n="2">0 1</Array><Array n="2">-1 -1</Array></Matrix>')
    doc = doc.replace(b'<Categories><Category value="a"/><Category value="b"/><Category value="c"/></Categories>',
                      b"")
    with pytest.raises(DocumentProblems, match="contrast Matrix needs Categories") as info:
        load(doc)
    assert info.value.unsupported
