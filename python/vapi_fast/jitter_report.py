"""The jitter-buffer evaluation report: a table and a plot from the deterministic trace simulator.

Run ``vapi-fast jitter-report --out DIR``. For every trace it runs the adaptive buffer at the
percentiles 0.90, 0.95 and 0.98, the fixed 40/80/160 ms buffers and the offline optimum (the
smallest constant delay with the same concealment, known with hindsight), on a virtual clock, and
writes ``DIR/jitter_report.md`` and, when matplotlib is installed (the ``plot`` extra),
``DIR/jitter_report.png``: speech concealment against mean added delay, one panel per trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._native import jitter_traces, simulate_jitter

__all__ = ["PERCENTILES", "TRACE_TITLES", "render_markdown", "run", "write_plot", "write_report"]

logger = logging.getLogger(__name__)

#: The percentile sweep of the adaptive buffer.
PERCENTILES = (0.90, 0.95, 0.98)

#: Human titles of the simulator's traces.
TRACE_TITLES = {
    "vapi_tcp": "1. Vapi over TCP (bursty, set-up stall)",
    "tts_burst": "2. TTS at 3x real time, then real time",
    "pareto_stalls": "3. Pareto jitter + Gilbert-Elliott stalls",
    "spikes": "4. 600-900 ms spikes",
    "drift_plus_100ppm": "5a. clock drift +100 ppm, 10 min",
    "drift_minus_100ppm": "5b. clock drift -100 ppm, 10 min",
    "loss_reorder": "6. loss + reordering (sequence numbers)",
}

Report = dict[str, Any]


def run(seed: int = 7, progress: Callable[[str], None] | None = None) -> dict[str, list[Report]]:
    """Simulate every trace at every percentile; returns trace name -> one report per percentile."""
    results: dict[str, list[Report]] = {}
    for name in jitter_traces():
        if progress:
            progress(f"simulating {TRACE_TITLES.get(name, name)}")
        results[name] = [simulate_jitter(name, seed=seed, percentile=p) for p in PERCENTILES]
    return results


def _row(label: str, algo: Report) -> str:
    recovery = algo.get("max_recovery_ms")
    recovery_text = "-" if recovery is None else f"{recovery:.0f}"
    return (
        f"| {label} | {algo['mean_delay_ms']:.1f} | {algo['p95_delay_ms']:.1f} | "
        f"{algo['speech_concealment_pct']:.2f} | {algo['frames_dropped']} | {recovery_text} |"
    )


def render_markdown(results: dict[str, list[Report]], seed: int) -> str:
    """The report as Markdown: one table per trace."""
    lines = [
        "# Jitter buffer evaluation",
        "",
        f"Deterministic simulation on a virtual clock, seed {seed}; produced by `vapi-fast jitter-report`.",
        "Added delay is the time each played frame waited; speech concealment counts concealed frames where the",
        "source had speech; recovery is the time after a stall until playout is back within a frame of its",
        "earlier offset ('-' where there is no stall to recover from).",
        "",
    ]
    for name, reports in results.items():
        first = reports[0]
        lines += [
            f"## {TRACE_TITLES.get(name, name)}",
            "",
            f"{first['duration_ms'] / 1000:.0f} s of {first['format']}, {first['speech_frames']} speech frames.",
            "",
            "| buffer | mean delay (ms) | p95 delay (ms) | speech concealed (%) | frames dropped | max recovery (ms) |",
            "|---|---|---|---|---|---|",
        ]
        lines += [_row(f"adaptive p{r['percentile']:.2f}", r["adaptive"]) for r in reports]
        lines += [_row(f["name"], f) for f in first["fixed"]]
        lines += [_row(f"offline optimum (as p{r['percentile']:.2f})", r["optimum"]) for r in reports]
        lines.append("")
    return "\n".join(lines)


def write_plot(results: dict[str, list[Report]], path: Path) -> bool:
    """Draw concealment against delay per trace; returns False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(results)
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        reports = results[name]
        xs = [r["adaptive"]["mean_delay_ms"] for r in reports]
        ys = [r["adaptive"]["speech_concealment_pct"] for r in reports]
        ax.plot(xs, ys, "o-", color="tab:blue", label="adaptive (p0.90/0.95/0.98)")
        for r, x, y in zip(reports, xs, ys, strict=True):
            ax.annotate(f"{r['percentile']:.2f}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        for f, marker in zip(reports[0]["fixed"], ["s", "^", "D"], strict=False):
            ax.plot(f["mean_delay_ms"], f["speech_concealment_pct"], marker, color="tab:gray", label=f["name"])
        ox = [r["optimum"]["mean_delay_ms"] for r in reports]
        oy = [r["optimum"]["speech_concealment_pct"] for r in reports]
        ax.plot(ox, oy, "*--", color="tab:red", ms=10, lw=0.8, label="offline optimum at the same concealment")
        ax.axhline(1.0, color="tab:green", lw=0.8, ls="--")
        ax.set_title(TRACE_TITLES.get(name, name), fontsize=9)
        ax.set_xlabel("mean added delay (ms)")
        ax.set_ylabel("speech concealed (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", fontsize=8)
    fig.suptitle("JitterBuffer: speech concealment vs added delay (dashed: 1 % target)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(out_dir: Path, seed: int = 7, progress: Callable[[str], None] | None = None) -> Sequence[Path]:
    """Run the evaluation and write the Markdown table and, if possible, the plot; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = run(seed, progress)
    written = [out_dir / "jitter_report.md"]
    written[0].write_text(render_markdown(results, seed) + "\n", encoding="utf-8")
    png = out_dir / "jitter_report.png"
    if write_plot(results, png):
        written.append(png)
    else:
        logger.warning("matplotlib is not installed (pip install 'vapi-fast[plot]'): skipped the plot")
    return written
