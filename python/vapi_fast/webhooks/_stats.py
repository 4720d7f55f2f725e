"""Counters and latency histograms for :meth:`vapi_fast.webhooks.Router.stats`."""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from typing import Any

__all__ = ["LATENCY_BUCKETS_MS", "LatencyHistogram", "RouterStats"]

#: Upper bounds of the latency histogram buckets, ms (the last bucket is unbounded).
LATENCY_BUCKETS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
#: Latencies kept per type for the percentiles (the most recent ones).
_WINDOW = 2048
#: Distinct message types tracked by name; further unknown types are counted together.
_MAX_TYPES = 128


def _percentile(ordered: list[float], q: float) -> float:
    # Nearest rank on the sorted window.
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class LatencyHistogram:
    """Count and latency distribution of one kind of request: fixed buckets plus a recent window."""

    __slots__ = ("buckets", "count", "errors", "fallbacks", "max_ms", "recent", "total_ms")

    def __init__(self) -> None:
        # Requests answered, and how many of them ended in a handler error or a fallback reply.
        self.count = 0
        self.errors = 0
        self.fallbacks = 0
        self.total_ms = 0.0
        self.max_ms = 0.0
        # Counts per bucket of LATENCY_BUCKETS_MS, plus one for everything slower.
        self.buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.recent: deque[float] = deque(maxlen=_WINDOW)

    def add(self, latency_ms: float) -> None:
        """Record one request's latency, ms."""
        self.count += 1
        self.total_ms += latency_ms
        self.max_ms = max(self.max_ms, latency_ms)
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)] += 1
        self.recent.append(latency_ms)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly copy: count, errors, fallbacks, mean/p50/p90/p99/max ms, the buckets."""
        ordered = sorted(self.recent)
        labels = [f"le_{bound:g}" for bound in LATENCY_BUCKETS_MS] + ["le_inf"]
        return {
            "count": self.count,
            "errors": self.errors,
            "fallbacks": self.fallbacks,
            "latency_ms": {
                "mean": self.total_ms / self.count if self.count else None,
                "p50": _percentile(ordered, 0.50) if ordered else None,
                "p90": _percentile(ordered, 0.90) if ordered else None,
                "p99": _percentile(ordered, 0.99) if ordered else None,
                "max": self.max_ms if self.count else None,
            },
            "histogram_ms": dict(zip(labels, self.buckets, strict=True)),
        }


class RouterStats:
    """Everything :meth:`~vapi_fast.webhooks.Router.stats` reports. Updated from the event loop only."""

    __slots__ = ("background", "counters", "statuses", "tools", "types")

    def __init__(self) -> None:
        self.types: dict[str, LatencyHistogram] = {}
        self.statuses: Counter[int] = Counter()
        # Rejections and other events by name (auth_failed, too_large, duplicate, ...).
        self.counters: Counter[str] = Counter()
        # Per tool: calls, errors, timeouts.
        self.tools: dict[str, Counter[str]] = {}
        # Background handlers: started, failed, cancelled.
        self.background: Counter[str] = Counter()

    def histogram(self, message_type: str) -> LatencyHistogram:
        """The histogram of ``message_type`` (unknown types past the first 128 share ``"(other)"``)."""
        found = self.types.get(message_type)
        if found is None:
            if len(self.types) >= _MAX_TYPES:
                message_type = "(other)"
                found = self.types.get(message_type)
            if found is None:
                found = self.types[message_type] = LatencyHistogram()
        return found

    def tool(self, name: str) -> Counter[str]:
        """The counters of tool ``name`` (past 128 names, ``"(other)"``)."""
        found = self.tools.get(name)
        if found is None:
            if len(self.tools) >= _MAX_TYPES:
                return self.tools.setdefault("(other)", Counter())
            found = self.tools[name] = Counter()
        return found

    def snapshot(self, background_running: int) -> dict[str, Any]:
        """A JSON-friendly copy of every counter."""
        return {
            "requests": sum(self.statuses.values()),
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
            "rejected": {
                name: self.counters[name]
                for name in ("method", "path", "too_large", "body_timeout", "auth_failed", "bad_request")
            },
            "duplicates": self.counters["duplicate"],
            "unknown_types": self.counters["unknown_type"],
            "client_gone": self.counters["client_gone"],
            "types": {name: histogram.snapshot() for name, histogram in sorted(self.types.items())},
            "tools": {
                name: {"calls": c["calls"], "errors": c["errors"], "timeouts": c["timeouts"]}
                for name, c in sorted(self.tools.items())
            },
            "background": {
                "running": background_running,
                "started": self.background["started"],
                "failed": self.background["failed"],
                "cancelled": self.background["cancelled"],
            },
        }
