"""The compiled distance kernels against the numpy path they replaced (field by field, broadcast)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pmserve.pmml.models.clustering import Comparator, Comparison, Measure, ranking

MEASURES = {
    "euclidean": Measure("euclidean", True, 2.0, 2.0),
    "squaredEuclidean": Measure("squaredEuclidean", True, 2.0, 1.0),
    "cityBlock": Measure("cityBlock", True, 1.0, 1.0),
    "chebychev": Measure("chebychev", True, 1.0, 1.0),
    "minkowski": Measure("minkowski", True, 3.0, 3.0),
}


def numpy_distances(c: Comparator, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The engine's former numpy path: one broadcast operation per field over records x references."""
    measure, refs = c.measure, c.references
    missing = np.isnan(x)
    weights = c.missing_weights if c.missing_weights is not None else np.ones(x.shape[1])
    counted = weights != 0.0
    total = weights[counted].sum()
    present = np.where(missing[:, counted], 0.0, weights[counted]).sum(axis=1)
    undefined = present == 0.0
    acc = np.zeros((x.shape[0], refs.shape[0]))
    with np.errstate(all="ignore"):
        adjustment = total / present
        for j, comp in enumerate(c.fields):
            xj, rj = x[:, j:j + 1], refs[:, j][None, :]
            if comp.function == "absDiff":
                d = xj - rj
                if measure.inner != 2.0:
                    d = np.abs(d)
            elif comp.function == "gaussSim":
                scale = comp.scale if comp.scale is not None else 1.0
                d = np.exp(-math.log(2.0) * (xj - rj) ** 2 / scale ** 2)
            elif comp.function == "delta":
                d = (xj != rj).astype(float)
            else:
                d = (xj == rj).astype(float)
            if measure.inner == 2.0:
                d = d * d
            elif measure.inner != 1.0:
                d = np.power(d, measure.inner)
            if comp.weight != 1.0:
                d = d * comp.weight
            d[missing[:, j]] = 0.0
            acc = np.maximum(acc, d) if measure.name == "chebychev" else acc + d
        out = acc * adjustment[:, None]
        if measure.outer != 1.0:
            out = np.sqrt(out) if measure.outer == 2.0 else np.power(out, 1.0 / measure.outer)
    out[undefined] = np.nan
    return out, undefined


def comparator(measure: str, functions: tuple[str, ...], rng: np.random.Generator,
               weights: np.ndarray | None = None, n_refs: int = 7) -> Comparator:
    fields = tuple(Comparison(f"f{j}", fn, float(rng.choice([1.0, 0.5, 2.25])), 1.7 if fn == "gaussSim" else None,
                              False) for j, fn in enumerate(functions))
    refs = rng.integers(-3, 4, size=(n_refs, len(fields))).astype(float) * 0.75
    refs[2, 1] = np.nan  # a training instance without a value
    return Comparator(MEASURES[measure], fields, refs, (None,) * len(fields), weights)


def records(rng: np.random.Generator, n_fields: int) -> np.ndarray:
    x = rng.integers(-3, 4, size=(40, n_fields)).astype(float) * 0.75 + rng.normal(0, 0.01, size=(40, n_fields))
    x[3, 0] = x[5, 2] = np.nan
    x[7, :] = np.nan  # every field missing: undefined
    x[9] = 0.75  # equal distances to several references: ties
    return x


FUNCTIONS = ("absDiff", "gaussSim", "delta", "equal", "absDiff")


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("weighted", [False, True])
def test_distance_kernel_equals_the_numpy_path(measure: str, weighted: bool) -> None:
    """Every measure and compare function, missing values and missing-value weights included."""
    rng = np.random.default_rng(7)
    weights = np.array([1.0, 0.3, 0.0, 2.0, 1.1]) if weighted else None
    c = comparator(measure, FUNCTIONS, rng, weights)
    x = records(rng, len(FUNCTIONS))
    got, undefined = c.compare(x)
    want, want_undefined = numpy_distances(c, x)
    assert undefined.tolist() == want_undefined.tolist()
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("depth", [1, 3, 7])
def test_nearest_kernel_ranks_as_a_stable_sort_of_the_distances(measure: str, depth: int) -> None:
    """Nearest first, equal distances in document order, NaN last."""
    rng = np.random.default_rng(11)
    c = comparator(measure, FUNCTIONS, rng)
    x = records(rng, len(FUNCTIONS))
    ranked, ranked_distances, undefined = c.nearest(x, depth)
    full, want_undefined = numpy_distances(c, x)
    order = np.argsort(full, axis=1, kind="stable")[:, :depth]
    ok = ~want_undefined
    assert undefined.tolist() == want_undefined.tolist()
    assert ranked[ok].tolist() == order[ok].tolist()
    np.testing.assert_allclose(ranked_distances[ok], np.take_along_axis(full, order, axis=1)[ok], rtol=1e-15,
                               atol=0.0, equal_nan=True)
    assert ranked[ok].tolist() == ranking(full[ok], True, depth).tolist()


@pytest.mark.parametrize("measure", ["euclidean", "squaredEuclidean"])
def test_squares_added_four_fields_a_pass_keep_the_order_of_the_sums(measure: str) -> None:
    """Nine plain fields (two passes of four and one alone), missing values shifting which fields
    share a pass, many references: the same bits as adding field by field, and the same ranks."""
    rng = np.random.default_rng(5)
    fields = tuple(Comparison(f"f{j}", "absDiff", 1.0, None, False) for j in range(9))
    refs = rng.normal(size=(60, 9)) * 3.0
    refs[40:] = refs[:20]  # equal distances: ties
    c = Comparator(MEASURES[measure], fields, refs, (None,) * 9, None)
    x = rng.normal(size=(300, 9)) * 3.0
    x[rng.random(size=x.shape) < 0.15] = np.nan
    got, undefined = c.compare(x)
    want, want_undefined = numpy_distances(c, x)
    assert undefined.tolist() == want_undefined.tolist()
    np.testing.assert_array_equal(got, want)
    ranked, ranked_distances, _ = c.nearest(x, 5)
    order = np.argsort(want, axis=1, kind="stable")[:, :5]
    ok = ~want_undefined
    assert ranked[ok].tolist() == order[ok].tolist()
    np.testing.assert_array_equal(ranked_distances[ok], np.take_along_axis(want, order, axis=1)[ok])


def test_nearest_kernel_scores_a_record_alone_as_in_a_batch() -> None:
    """A record's neighbours do not depend on the records scored with it."""
    rng = np.random.default_rng(3)
    c = comparator("euclidean", ("absDiff",) * 4, rng, n_refs=50)
    x = rng.normal(size=(30, 4))
    ranked, dist, _ = c.nearest(x, 5)
    for i in (0, 13, 29):
        one_ranked, one_dist, _ = c.nearest(x[i:i + 1], 5)
        assert one_ranked[0].tolist() == ranked[i].tolist()
        np.testing.assert_allclose(one_dist[0], dist[i], rtol=0.0, atol=0.0)


@pytest.mark.parametrize("measure", ["euclidean", "squaredEuclidean", "cityBlock"])
@pytest.mark.parametrize("weighted", [False, True])
def test_few_centers_compared_block_by_block_equal_the_numpy_path(measure: str, weighted: bool) -> None:
    """Plain absDiff fields against a few centers (the k-means case), over several blocks."""
    rng = np.random.default_rng(13)
    fields = tuple(Comparison(f"f{j}", "absDiff", 1.0, None, False) for j in range(6))
    centers = rng.normal(size=(5, 6))
    centers[1, 4] = np.nan
    weights = np.array([1.0, 0.3, 0.0, 2.0, 1.1, 0.7]) if weighted else None
    c = Comparator(MEASURES[measure], fields, centers, (None,) * 6, weights)
    x = rng.normal(size=(700, 6))
    x[rng.random(size=x.shape) < 0.1] = np.nan
    x[650] = np.nan
    got, undefined = c.compare(x)
    want, want_undefined = numpy_distances(c, x)
    assert undefined.tolist() == want_undefined.tolist()
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0.0, equal_nan=True)
