import numpy as np
import pytest

from auditor.metrics import TokenMask
from auditor.metrics.removal import _Batch, _step_ks


def test_step_ks_one_feature_and_bins():
    np.testing.assert_array_equal(_step_ks(np.array([3, 3]), None), [[0, 1, 2, 3], [0, 1, 2, 3]])
    # k_j = round_half_up(j·m / n_steps): m = 10 -> 0,3,5,8,10 ; m = 2 -> 0,1,1,2,2
    np.testing.assert_array_equal(_step_ks(np.array([10, 2]), 4), [[0, 3, 5, 8, 10], [0, 1, 1, 2, 2]])
    with pytest.raises(ValueError, match="n_steps"):
        _step_ks(np.array([3, 4]), None)


def test_tabular_masks_write_per_feature_baseline():
    b = _Batch(np.array([[1.0, 2.0, 3.0]]), np.array([[0.1, 0.3, 0.2]]), np.array([10.0, 20.0, 30.0]))
    masks = b.topk_masks(np.array([[0, 1, 2]]), keep=False, rng=None)
    rows = []
    out = b.evaluate(lambda Z: rows.append(Z.copy()) or Z.sum(axis=1), masks, include_x=True)
    np.testing.assert_array_equal(rows[0], [[1, 2, 3], [1, 2, 3], [1, 20, 3], [1, 20, 30]])
    np.testing.assert_allclose(out, [[6, 6, 24, 51]])


def test_token_mask_removable_and_special_ids_combine():
    ids = [np.array([1, 5, 6, 7, 2])]
    tm = TokenMask(3, removable=[np.array([True, True, False, True, True])], special_ids=(1, 2))
    b = _Batch(ids, [np.array([9.0, 1.0, 5.0, 2.0, 9.0])], tm)
    assert b.removable[0].tolist() == [False, True, False, True, False]
    assert b.morf(0, None).tolist() == [3, 1]  # position 2 (attr 5) is not removable
    masks = b.topk_masks(np.array([[1, 2]]), keep=True, rng=None)  # keep only top-k
    seen = []
    b.evaluate(lambda batch: seen.extend(batch) or np.zeros(len(batch)), masks, include_x=False)
    assert [r.tolist() for r in seen] == [[1, 3, 6, 7, 2], [1, 5, 6, 7, 2]]


def test_token_mask_validation():
    with pytest.raises(ValueError, match="one mask per instance"):
        _Batch([np.array([1, 4])], [np.zeros(2)], TokenMask(3, removable=[]))
    with pytest.raises(ValueError, match="removable mask shape"):
        _Batch([np.array([1, 4])], [np.zeros(2)], TokenMask(3, removable=[np.ones(3, bool)]))
    with pytest.raises(ValueError, match="no instances"):
        _Batch([], [], TokenMask(3))
