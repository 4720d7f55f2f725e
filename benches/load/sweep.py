"""Run the load harness for every variant at fixed call counts, then search the largest passing call count.

::

    python -m benches.load.sweep                      # 50, 200, 500 calls x 3 variants, then the search; ~10 min
    python -m benches.load.sweep --calls 50,200 --no-search --seconds 10
    python -m benches.load.sweep --budget 300 --json sweep.json --markdown sweep.md

A run passes when every call connected and ran to the end, p99 frame lateness is at most ``--lateness-ms`` and no
frame was lost (see :mod:`benches.load.harness` for the definitions). After the fixed points, a bisection per
variant (round robin, so the budget is shared) narrows the largest passing N between the largest passing and the
smallest failing count seen, doubling upwards while everything passes, up to ``--max-calls``. It stops when the
bracket is narrower than ``--resolution`` or when the next run would not fit in ``--budget`` seconds (the fixed
points always run; every run is a separate process, killed with its mock if it outlives its own timeout).

The machine may be shared: before each run the sweep waits (up to ``--quiet-wait`` seconds) until other processes
use at most ``--quiet-cpu`` % of a core, and a run that fails while they were busier than that is run once more.
The table shows what other processes used during each window.

The Markdown table goes to stdout (and ``--markdown``); every run's full measurements go to ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .harness import VARIANTS, LoadConfig, others_cpu_delta, others_cpu_s

__all__ = ["SweepConfig", "main", "markdown_table", "passes", "run_one", "sweep"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SweepConfig:
    """What the sweep runs. See the module docstring and ``--help``."""

    variants: tuple[str, ...] = VARIANTS
    calls: tuple[int, ...] = (50, 200, 500)
    seconds: float = 15.0
    ramp_s: float = 2.0
    settle_s: float = 2.0
    pacing: str = "bursty"
    io: str = "shared"
    search: bool = True
    budget_s: float = 600.0
    lateness_ms: float = 20.0
    max_calls: int = 1000
    resolution: int = 25
    quiet_wait_s: float = 30.0
    quiet_cpu_pct: float = 10.0


def passes(result: dict[str, Any], lateness_ms: float) -> bool:
    """Every call connected and lasted, p99 lateness within the limit, nothing lost."""
    p99 = result.get("lateness_ms_p99")
    return (
        result.get("connected") == result.get("calls")
        and result.get("error_count") == 0
        and result.get("calls_ended_early") == 0
        and p99 is not None
        and p99 <= lateness_ms
        and result.get("lost_frames") == 0
    )


def background_cpu_pct(sample_s: float = 1.0) -> float:
    """CPU used by every process but this one over ``sample_s``, in % of one core."""
    before = others_cpu_s([])
    time.sleep(sample_s)
    return 100 * others_cpu_delta(before, others_cpu_s([])) / sample_s


def wait_for_quiet(config: SweepConfig) -> float:
    """Wait (up to ``quiet_wait_s``) until the other processes use at most ``quiet_cpu_pct`` of a core; returns the
    last reading. On a shared 2-core machine a neighbour's test run moves the lateness cliff by a hundred calls."""
    deadline = time.monotonic() + config.quiet_wait_s
    while True:
        busy = background_cpu_pct()
        if busy <= config.quiet_cpu_pct or time.monotonic() >= deadline:
            return busy


def _noisy(result: dict[str, Any], config: SweepConfig) -> bool:
    """Did other processes use more than the quiet threshold during the run's window?"""
    other = result.get("other_processes_cpu_pct")
    return other is not None and other > config.quiet_cpu_pct


def _estimate_s(config: SweepConfig, calls: int) -> float:
    """Rough wall time of one run (start-up, a ramp that slows down with the call count, teardown)."""
    return config.ramp_s + config.settle_s + config.seconds + 6.0 + 0.03 * calls


def run_one(config: SweepConfig, variant: str, calls: int) -> dict[str, Any]:
    """One harness run in its own process group; a run that fails or times out gives a result that fails."""
    load = LoadConfig(
        variant=variant,
        calls=calls,
        seconds=config.seconds,
        ramp_s=config.ramp_s,
        settle_s=config.settle_s,
        pacing=config.pacing,
        io=config.io,
    )
    timeout_s = load.hard_timeout_s + 30
    with tempfile.TemporaryDirectory(prefix="vapi-fast-load-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "benches.load.harness",
            "--variant",
            variant,
            "--calls",
            str(calls),
            "--seconds",
            str(config.seconds),
            "--ramp",
            str(config.ramp_s),
            "--settle",
            str(config.settle_s),
            "--pacing",
            config.pacing,
            "--io",
            config.io,
            "--json",
            str(out),
        ]
        proc = subprocess.Popen(
            command, cwd=_PACKAGE_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the harness and its mock
            output, _ = proc.communicate()
            return _failed(variant, calls, f"timed out after {timeout_s:.0f} s", output)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # nothing of the group may outlive the run
        if proc.returncode != 0 or not out.exists():
            return _failed(variant, calls, f"exit status {proc.returncode}", output)
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _failed(variant: str, calls: int, why: str, output: bytes | None) -> dict[str, Any]:
    tail = (output or b"").decode(errors="replace").strip().splitlines()[-5:]
    return {"variant": variant, "calls": calls, "connected": 0, "error_count": 1, "errors": [why, *tail]}


def _next_calls(results: Sequence[dict[str, Any]], config: SweepConfig) -> int | None:
    """The next call count to try for one variant, or ``None`` when its bracket is narrow enough."""
    passing = [r["calls"] for r in results if passes(r, config.lateness_ms)]
    failing = [r["calls"] for r in results if not passes(r, config.lateness_ms)]
    lo = max(passing, default=0)
    hi = min((n for n in failing if n > lo), default=None)
    if hi is None:
        if lo >= config.max_calls:
            return None
        candidate = min(config.max_calls, 2 * lo) if lo else min(config.calls, default=50)
    else:
        if hi - lo <= max(config.resolution, lo // 20):
            return None
        candidate = (lo + hi) // 2
    step = 10 if candidate >= 50 else 1
    candidate = max(1, round(candidate / step) * step)
    tried = {r["calls"] for r in results}
    return None if candidate in tried else candidate


def sweep(config: SweepConfig, progress: bool = True) -> list[dict[str, Any]]:
    """Run the fixed points, then the search; returns every run's result."""
    started = time.monotonic()
    results: list[dict[str, Any]] = []

    def run(variant: str, calls: int) -> None:
        t0 = time.monotonic()
        background = wait_for_quiet(config)
        result = run_one(config, variant, calls)
        result["passed"] = passes(result, config.lateness_ms)
        remaining = config.budget_s - (time.monotonic() - started)
        if not result["passed"] and _noisy(result, config) and remaining > _estimate_s(config, calls) + 10:
            # A neighbour was busy during a failing run: wait for quiet and run it once more.
            noisy = {k: result.get(k) for k in ("lateness_ms_p99", "lost_frames", "other_processes_cpu_pct")}
            background = wait_for_quiet(config)
            result = run_one(config, variant, calls)
            result["passed"] = passes(result, config.lateness_ms)
            result["noisy_attempt"] = noisy
        result["background_cpu_pct_before"] = round(background, 1)
        result["run_s"] = round(time.monotonic() - t0, 1)
        results.append(result)
        if progress:
            print(
                f"[{time.monotonic() - started:5.0f} s] {variant:>12} N={calls:<4} "
                f"{'pass' if result['passed'] else 'FAIL'}  p99 {result.get('lateness_ms_p99')} ms, "
                f"lost {result.get('lost_frames')}, CPU {result.get('client_cpu_pct')}%, "
                f"{result.get('calls_per_core')} calls/core, mock CPU {result.get('mock_cpu_pct')}%, "
                f"others {result.get('other_processes_cpu_pct')}%{' (retried)' if 'noisy_attempt' in result else ''} "
                f"({result['run_s']} s){'' if result['passed'] else '  ' + str(result.get('errors', [])[:2])}",
                file=sys.stderr,
                flush=True,
            )

    for calls in config.calls:
        for variant in config.variants:
            run(variant, calls)
    if config.search:
        active = list(config.variants)
        while active:
            for variant in list(active):
                candidate = _next_calls([r for r in results if r["variant"] == variant], config)
                remaining = config.budget_s - (time.monotonic() - started)
                if candidate is None or _estimate_s(config, candidate) > remaining:
                    active.remove(variant)
                    continue
                run(variant, candidate)
    return results


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _verdict(result: dict[str, Any], config: SweepConfig) -> str:
    if result.get("passed"):
        return "yes"
    return "no (busy neighbours)" if _noisy(result, config) else "no"


def markdown_table(results: Sequence[dict[str, Any]], config: SweepConfig) -> str:
    """Every run, sorted by variant and call count, then the largest passing call count of each variant."""
    header = (
        "| variant | N | client CPU % | calls per core | p50 / p99 lateness ms | lost frames | concealed speech % "
        "| RSS per call KiB (after ramp / end) | mock CPU % | mock lag p99 ms | other processes CPU % | pass |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    order = {v: i for i, v in enumerate(config.variants)}
    for r in sorted(results, key=lambda r: (order.get(r["variant"], 99), r["calls"])):
        if not r.get("connected"):
            lines.append(f"| {r['variant']} | {r['calls']} | run failed: {'; '.join(r.get('errors', []))[:120]} |")
            continue
        lines.append(
            f"| {r['variant']} | {r['calls']} | {_cell(r.get('client_cpu_pct'))} | {_cell(r.get('calls_per_core'), 0)} "
            f"| {_cell(r.get('lateness_ms_p50'))} / {_cell(r.get('lateness_ms_p99'))} | {_cell(r.get('lost_frames'))} "
            f"| {_cell(r.get('downlink_concealed_speech_pct'), 3)} "
            f"| {_cell(r.get('rss_per_call_kib'), 0)} / {_cell(r.get('rss_per_call_end_kib'), 0)} "
            f"| {_cell(r.get('mock_cpu_pct'))} | {_cell(r.get('mock_lag_ms_p99'))} "
            f"| {_cell(r.get('other_processes_cpu_pct'))} | {_verdict(r, config)} |"
        )
    lines += ["", f"Largest N passing (p99 lateness <= {config.lateness_ms:g} ms, zero lost frames):", ""]
    for variant in config.variants:
        runs = [r for r in results if r["variant"] == variant]
        good = [r for r in runs if r.get("passed")]
        bad = sorted(r["calls"] for r in runs if not r.get("passed"))
        if good:
            best = max(good, key=lambda r: r["calls"])
            above = [n for n in bad if n > best["calls"]]
            bracket = f" (fails at {above[0]})" if above else " (largest tried)"
            lines.append(
                f"- {variant}: **{best['calls']}**{bracket}; at that N: {_cell(best.get('calls_per_core'), 0)} calls "
                f"per core, {_cell(best.get('cpu_ms_per_call_s'), 3)} ms CPU per call-second"
            )
        else:
            lines.append(f"- {variant}: none of {sorted(r['calls'] for r in runs)} passed")
    return "\n".join(lines)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benches.load.sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from " + ", ".join(VARIANTS))
    parser.add_argument("--calls", type=_ints, default=(50, 200, 500), help="fixed call counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window of each run")
    parser.add_argument("--ramp", type=float, default=2.0)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--pacing", choices=("bursty", "realtime"), default="bursty")
    parser.add_argument("--io", choices=("shared", "per-call"), default="shared")
    parser.add_argument("--no-search", dest="search", action="store_false", help="only the fixed call counts")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds the search may use, fixed points included")
    parser.add_argument("--lateness-ms", type=float, default=20.0, help="p99 lateness limit of a passing run")
    parser.add_argument("--max-calls", type=int, default=1000, help="the search goes no higher")
    parser.add_argument("--resolution", type=int, default=25, help="stop bisecting below this bracket width")
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="max seconds to wait for idle neighbours")
    parser.add_argument("--quiet-cpu", type=float, default=10.0, help="neighbours' CPU (%% of a core) counted idle")
    parser.add_argument("--json", type=Path, default=None, help="write every run's measurements here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here too")
    args = parser.parse_args(argv)
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {VARIANTS}")
    config = SweepConfig(
        variants=variants,
        calls=args.calls,
        seconds=args.seconds,
        ramp_s=args.ramp,
        settle_s=args.settle,
        pacing=args.pacing,
        io=args.io,
        search=args.search,
        budget_s=args.budget,
        lateness_ms=args.lateness_ms,
        max_calls=args.max_calls,
        resolution=args.resolution,
        quiet_wait_s=args.quiet_wait,
        quiet_cpu_pct=args.quiet_cpu,
    )
    results = sweep(config)
    table = markdown_table(results, config)
    print(table, flush=True)
    if args.markdown is not None:
        args.markdown.write_text(table + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
