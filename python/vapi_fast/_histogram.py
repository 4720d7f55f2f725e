"""A fixed-size histogram of millisecond values, for per-call timing statistics.

A call runs for minutes at 50 pacer ticks a second; keeping every sample (a float object and a
pointer, about 32 bytes each) would cost a Session more memory than its socket, its transcoders and
its jitter buffer together. The histogram holds the whole call in 1.5 KiB, can be added up
across calls, and answers quantiles to within one bin.
"""

from __future__ import annotations

from array import array

__all__ = ["MsHistogram"]

# Bin layout: 0.1 ms wide below 10 ms, 1 ms below 100 ms, 10 ms below 1 s, 100 ms below 10 s, then
# one bin for everything longer. (a, b, w): values in [a, b) fall in bins of width w.
_RANGES = ((0.0, 10.0, 0.1), (10.0, 100.0, 1.0), (100.0, 1000.0, 10.0), (1000.0, 10000.0, 100.0))
_FIRST = [0]
for _a, _b, _w in _RANGES:
    _FIRST.append(_FIRST[-1] + round((_b - _a) / _w))
_BINS = _FIRST[-1] + 1
_TOP = _RANGES[-1][1]


def _upper_edge(index: int) -> float:
    for (a, _b, w), first, end in zip(_RANGES, _FIRST, _FIRST[1:], strict=False):
        if index < end:
            return a + w * (index - first + 1)
    return float("inf")


class MsHistogram:
    """Counts of millisecond values (negative values count as 0).

    Quantiles are rounded up to their bin's upper edge: 0.1 ms resolution below 10 ms, 1 ms below
    100 ms, 10 ms below 1 s, 100 ms below 10 s; above that a quantile is the largest value seen.
    ``max_ms`` is exact.
    """

    __slots__ = ("_counts", "count", "max_ms")

    def __init__(self) -> None:
        self._counts = array("I", bytes(4 * _BINS))
        #: Values added since construction or :meth:`clear`.
        self.count = 0
        #: Largest value added, ms (``None`` before the first).
        self.max_ms: float | None = None

    def add(self, ms: float) -> None:
        """Count one value, in ms."""
        # Unrolled for speed: this runs on every pacer tick of every call.
        if ms < 10.0:
            index = int(ms * 10.0) if ms > 0.0 else 0
        elif ms < 100.0:
            index = 90 + int(ms)
        elif ms < 1000.0:
            index = 180 + int(ms * 0.1)
        elif ms < _TOP:
            index = 270 + int(ms * 0.01)
        else:
            index = _BINS - 1
        self._counts[index] += 1
        self.count += 1
        if self.max_ms is None or ms > self.max_ms:
            self.max_ms = ms

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0 to 1) in ms, rounded up to its bin's upper edge; ``None`` when empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be between 0 and 1, not {q!r}")
        if not self.count:
            return None
        # The same rank as sorted(values)[int(q * n)], clamped to the last value.
        rank = min(self.count - 1, int(q * self.count)) + 1
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                edge = _upper_edge(index)
                assert self.max_ms is not None
                return min(edge, max(self.max_ms, 0.0))
        raise AssertionError("bin counts do not add up to count")

    def update(self, other: MsHistogram) -> None:
        """Add ``other``'s values to this histogram (to pool calls)."""
        counts = self._counts
        for index, n in enumerate(other._counts):
            if n:
                counts[index] += n
        self.count += other.count
        if other.max_ms is not None and (self.max_ms is None or other.max_ms > self.max_ms):
            self.max_ms = other.max_ms

    def clear(self) -> None:
        """Forget every value."""
        self._counts = array("I", bytes(4 * _BINS))
        self.count = 0
        self.max_ms = None

    def __repr__(self) -> str:
        return f"MsHistogram(count={self.count}, p50={self.quantile(0.5)}, max_ms={self.max_ms})"
