import numpy as np
import pytest

from auditor.metrics import bootstrap_ci, paired_wilcoxon_greater


def test_bootstrap_ci_contains_true_median_and_is_reproducible():
    est, low, high = bootstrap_ci(np.arange(1.0, 102.0), rng=0)  # median 51
    assert est == 51.0 and low < 51.0 < high
    assert (est, low, high) == bootstrap_ci(np.arange(1.0, 102.0), rng=0)
    sample = np.random.default_rng(42).normal(loc=3.0, size=400)  # true median 3
    est, low, high = bootstrap_ci(sample, n_boot=2000, rng=np.random.default_rng(1))
    assert low < 3.0 < high and high - low < 0.5


def test_bootstrap_ci_constant_mean_and_nan():
    assert bootstrap_ci(np.full(10, 0.7)) == (0.7, 0.7, 0.7)
    est, low, high = bootstrap_ci([1.0, 2.0, np.nan, 3.0], stat=np.mean, rng=3)
    assert est == 2.0 and 1.0 <= low <= 2.0 <= high <= 3.0
    assert all(np.isnan(bootstrap_ci([np.nan, np.nan])))
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci([1.0, 2.0], alpha=1.5)


def test_wilcoxon_exact_known_value():
    # 5 positive differences: W+ is its maximum, exact one-sided p = 1 / 2**5.
    a, b = np.array([2.0, 4.0, 6.0, 8.0, 10.0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert paired_wilcoxon_greater(a, b) == pytest.approx(1 / 32)
    assert paired_wilcoxon_greater(b, a) == pytest.approx(1.0)


def test_wilcoxon_clearly_greater_identical_and_too_small():
    rng = np.random.default_rng(0)
    b = rng.normal(size=40)
    assert paired_wilcoxon_greater(b + 1.0 + 0.1 * rng.normal(size=40), b) < 0.05
    assert paired_wilcoxon_greater(b, b) == 1.0
    assert np.isnan(paired_wilcoxon_greater([1.0], [0.0]))
    assert np.isnan(paired_wilcoxon_greater([1.0, np.nan], [0.0, 0.0]))
    with pytest.raises(ValueError, match="equal length"):
        paired_wilcoxon_greater([1.0, 2.0], [1.0])
