"""The mock Vapi of the load benchmark, run in its own process by :mod:`benches.load.harness`.

``python -m benches.load.mock_server --reply-ms 30000`` starts :func:`vapi_fast.mock.run_mock` (which prints
``Mock Vapi listening: http://127.0.0.1:PORT ...``) with a behaviour that keeps the downlink busy: the first
message lasts ``--reply-ms``, so the assistant talks for the whole run and audio flows both ways. The client mutes
the caller side (``mute-customer``), so the mock does no turn detection and no barge-in stops the assistant: the
mock's own cost stays low enough for hundreds of calls in one process.

The mock's speech synthesis (numpy, about 80 ms of CPU for 30 s of audio) and chunk planning would cost it seconds
of CPU during the ramp-up of hundreds of calls, and hundreds of MB; this process replaces both with cached versions
(a few distinct clips and their chunk plans, shared by all calls). The audio is still speech-like, paced as
configured, and every other part of the mock is unchanged.

Commands on stdin, one per line: ``stats`` prints one JSON line (CPU, RSS and per-call counters); ``mark`` starts
a window of the loop-lag monitor and ``lag`` prints its percentiles (is the mock keeping real time?); ``stop`` (or
the end of stdin, e.g. when the harness dies) stops the mock. ``--max-seconds`` bounds its lifetime in any case.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from vapi_fast.audio import AudioFormat
from vapi_fast.mock import MockBehaviour, MockVapi, run_mock

__all__ = ["LagMonitor", "install_synth_cache", "main", "summary"]

#: Distinct assistant clips: calls n and n + SYNTH_VARIANTS say the same thing.
SYNTH_VARIANTS = 4


def install_synth_cache(prewarm: tuple[AudioFormat, float] | None = None) -> bool:
    """Make the mock synthesize each (format, length, level) clip at most :data:`SYNTH_VARIANTS` times and plan
    its chunks once per clip and pacing (the plan is read-only, so calls can share it); with ``prewarm`` (format,
    duration in ms), synthesize those clips now rather than during the ramp-up.

    Returns whether the mock's functions were found (if the mock is refactored, the load test still runs, only
    with a costlier ramp-up).
    """
    from vapi_fast.mock import _call

    synth: Callable[..., bytes] | None = getattr(_call, "synth_speech", None)
    plan: Callable[..., list[tuple[float, bytes]]] | None = getattr(_call, "plan_chunks", None)
    if synth is None or plan is None:
        return False
    make_clip, make_plan = synth, plan

    @functools.cache
    def cached_clip(fmt: AudioFormat, duration_ms: float, seed: int, level_dbfs: float) -> bytes:
        return make_clip(fmt, duration_ms, seed, level_dbfs)

    def synth_speech(fmt: AudioFormat, duration_ms: float, seed: int, level_dbfs: float = -20.0) -> bytes:
        return cached_clip(fmt, duration_ms, seed % SYNTH_VARIANTS, level_dbfs)

    plans: dict[tuple[AudioFormat, int, str], list[tuple[float, bytes]]] = {}

    def plan_chunks(fmt: AudioFormat, audio: bytes, pacing: str, rng: Any) -> list[tuple[float, bytes]]:
        key = (fmt, id(audio), pacing)  # the clips live in cached_clip's cache: their ids are stable
        if key not in plans:
            plans[key] = make_plan(fmt, audio, pacing, rng)
        return plans[key]

    _call.synth_speech = synth_speech  # type: ignore[attr-defined]
    _call.plan_chunks = plan_chunks  # type: ignore[attr-defined]
    if prewarm is not None:
        for seed in range(SYNTH_VARIANTS):
            synth_speech(prewarm[0], prewarm[1], seed)
    return True


class LagMonitor:
    """How late the mock's event loop runs: a 20 ms ticker's lateness, since the last :meth:`mark`."""

    def __init__(self) -> None:
        self.samples: collections.deque[float] = collections.deque(maxlen=200_000)

    def mark(self) -> None:
        self.samples.clear()

    def report(self) -> dict[str, Any]:
        ordered = sorted(self.samples)

        def q(x: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(x * len(ordered)))], 3) if ordered else None

        return {"type": "lag", "lag_ms_p50": q(0.5), "lag_ms_p99": q(0.99), "lag_ms_max": q(1.0), "n": len(ordered)}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        while True:
            self.samples.append((loop.time() - start - tick * 0.02) * 1000)
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.02 - loop.time()))


def _rss_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def summary(mock: MockVapi) -> dict[str, Any]:
    """The mock's CPU time, RSS and, per call id, what it received and sent."""
    calls: dict[str, dict[str, Any]] = {}
    for call_id, call in mock.calls.items():
        calls[call_id] = {
            "caller_frames": len(call.caller_frames),
            "caller_bytes": sum(call.caller_frames),
            "audio_chunks": len(call.audio_chunks),
            "audio_bytes": sum(call.audio_chunks),
            "controls": [c.get("type") for c in call.controls],
            "status": call.status,
            "ended_reason": call.ended_reason,
            "close_code": call.close_code,
        }
    return {"type": "stats", "cpu_s": time.process_time(), "rss_kib": _rss_kib(), "calls": calls}


async def _serve(behaviour: MockBehaviour, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    ready: list[MockVapi] = []
    server = asyncio.create_task(run_mock(0, behaviour=behaviour, on_ready=ready.append))
    lag = LagMonitor()
    lag_task = asyncio.create_task(lag.run())
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        async with asyncio.timeout(max_seconds):
            while line := await reader.readline():
                command = line.strip().decode()
                if command == "stats" and ready:
                    print(json.dumps(summary(ready[0]), separators=(",", ":")), flush=True)
                elif command == "mark":
                    lag.mark()
                elif command == "lag":
                    print(json.dumps(lag.report()), flush=True)
                elif command == "stop":
                    break
    except TimeoutError:
        print("mock: --max-seconds reached, stopping", file=sys.stderr, flush=True)
    finally:
        for task in (lag_task, server):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def main(argv: list[str] | None = None) -> int:
    """Run the load mock until ``stop``, the end of stdin, or ``--max-seconds``."""
    parser = argparse.ArgumentParser(prog="python -m benches.load.mock_server", description=__doc__.split("\n")[0])
    parser.add_argument("--reply-ms", type=int, default=30_000, help="length of the assistant's first message")
    parser.add_argument("--pacing", choices=("bursty", "realtime", "fast"), default="bursty")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="hard limit on the mock's lifetime")
    parser.add_argument("--no-synth-cache", action="store_true", help="keep the mock's per-call speech synthesis")
    args = parser.parse_args(argv)
    if not args.no_synth_cache and not install_synth_cache((AudioFormat("mulaw", 8000), args.reply_ms)):
        print("mock: synthesis cache not installed (mock internals changed)", file=sys.stderr, flush=True)
    behaviour = MockBehaviour(
        first_message="This is the vapi_fast load test: the assistant talks for the whole call.",
        reply_ms=args.reply_ms,
        pacing=args.pacing,
        setup_spike_ms=(340, 500),
        max_duration_ms=int(args.max_seconds * 1000),
        connect_timeout_ms=60_000,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(behaviour, args.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
