"""The compiled Gaussian densities of naive Bayes against the numpy formula they replaced."""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml.kernels import naive_bayes as nb_kernel

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def test_gaussian_logs_equal_the_numpy_path_stat_by_stat() -> None:
    """Densities below the threshold are raised to it; missing values add nothing."""
    rng = np.random.default_rng(2)
    x = rng.normal(0, 3, size=300)
    x[[4, 90]] = np.nan
    columns = np.array([0, 2, 1, 0], dtype=np.intp)  # two stats add to category 0, in order
    means, sds = rng.normal(size=4), rng.uniform(0.2, 2.0, size=4)
    log_norms = np.log(sds) + HALF_LOG_2PI
    threshold = 1e-4
    start = rng.normal(size=(300, 3))
    got = start.copy()
    nb_kernel.add_gaussian_logs(x, columns, means, sds, log_norms, threshold, got)
    want = start.copy()
    ok = ~np.isnan(x)
    for j in range(4):
        z = (x[ok] - means[j]) / sds[j]
        p = np.exp(-0.5 * z * z - (math.log(sds[j]) + HALF_LOG_2PI))
        want[ok, columns[j]] += np.log(np.where(p < threshold, threshold, p))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0.0)
    assert (got[~ok] == start[~ok]).all()
    assert (got[ok] != start[ok]).any()
