"""MsHistogram: quantiles within one bin of the exact ones, pooling, clearing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vapi_fast._histogram import MsHistogram


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bin_width(ms: float) -> float:
    return 0.1 if ms < 10 else 1.0 if ms < 100 else 10.0 if ms < 1000 else 100.0


values_ms = st.lists(st.floats(min_value=-5, max_value=20000, allow_nan=False), min_size=1, max_size=400)


@given(values_ms, st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999, 1.0]))
def test_quantiles_are_the_exact_ones_rounded_up_to_their_bin(values: list[float], q: float) -> None:
    h = MsHistogram()
    for v in values:
        h.add(v)
    want = max(exact(values, q), 0.0)
    got = h.quantile(q)
    assert got is not None
    assert h.count == len(values) and h.max_ms == max(values)
    if want >= 10000:
        # The overflow bin answers with the largest value seen.
        assert got == max(values)
    else:
        # Never below the exact value (up to float rounding at an edge), never a bin above it.
        assert want - 1e-9 <= got <= want + bin_width(want) + 1e-9


@given(values_ms, values_ms)
def test_pooling_two_histograms_equals_one_of_all_values(a: list[float], b: list[float]) -> None:
    ha, hb, hall = MsHistogram(), MsHistogram(), MsHistogram()
    for v in a:
        ha.add(v)
        hall.add(v)
    for v in b:
        hb.add(v)
        hall.add(v)
    ha.update(hb)
    assert ha.count == hall.count and ha.max_ms == hall.max_ms
    for q in (0.0, 0.5, 0.99, 1.0):
        assert ha.quantile(q) == hall.quantile(q)


def test_bin_edges_and_resolution() -> None:
    h = MsHistogram()
    for v in (0.05, 9.95, 10.0, 99.5, 100.0, 999.0, 1000.0, 9999.0):
        h.clear()
        h.add(v)
        h.add(30000.0)  # keeps max_ms from capping the answer
        got = h.quantile(0.0)
        assert got is not None and v <= got <= v + bin_width(v) + 1e-9, (v, got)
    h.clear()
    assert h.count == 0 and h.max_ms is None and h.quantile(0.5) is None
    h.add(-3.0)
    assert h.quantile(1.0) == 0.0 and h.max_ms == -3.0
    h.add(math.inf)
    assert h.quantile(1.0) == math.inf


def test_a_quantile_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        MsHistogram().quantile(1.5)
