"""neuroreg.measures: the statistics several stages share, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from neuroreg.measures import centered_unit_vectors, pearson, pearson_r


def test_pearson_per_column_by_hand():
    x = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 5.0]])
    y = np.array([[2.0, 3.0], [4.0, 3.0], [6.0, 4.0]])
    # column 0: y = 2x -> 1; column 1: x = (0,1,5), y = (3,3,4): centred (-2,-1,3), (-1/3,-1/3,2/3)
    expected = (2 / 3 + 1 / 3 + 2) / np.sqrt(14 * (1 / 9 + 1 / 9 + 4 / 9))
    np.testing.assert_allclose(pearson(x, y), [1.0, expected])
    assert pearson(x, -x) == pytest.approx([-1.0, -1.0])


def test_pearson_of_a_constant_column_is_zero_not_nan():
    x = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 4.0]])
    assert pearson(x, x[::-1]).tolist() == [0.0, -1.0]


def test_pearson_r_matches_the_column_version():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert pearson_r(x, y) == pytest.approx(float(pearson(x[:, None], y[:, None])[0]), abs=1e-12)


def test_centered_unit_vectors_eq2():
    r = np.array([[1.0, 0.0], [0.0, 2.0], [2.0, 4.0]])  # mean (1, 2): centred (0,-2), (-1,0), (1,2)
    e = centered_unit_vectors(r)
    np.testing.assert_allclose(e, [[0, -1], [-1, 0], [1 / np.sqrt(5), 2 / np.sqrt(5)]])
    assert (centered_unit_vectors(np.ones((3, 2))) == 0).all()  # no direction: zero vectors, not NaN
