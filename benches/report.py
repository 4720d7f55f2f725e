"""Print benchmark results as a Markdown table: vapi_fast against each comparison library, group by group.

Usage::

    python benches/report.py [RESULTS.json]

Without an argument it reads the newest JSON under ``.benchmarks/`` (in the current directory, then in the
repository root), as saved by ``pytest benches --benchmark-only --benchmark-autosave``; or pass a file written with
``--benchmark-json=FILE``. With no results to read it says so and exits 0.

A benchmark's library is its test name without ``test_`` and parameters: ``vapi_fast`` is the reference,
``vapi_fast_*`` are vapi_fast variants (other quality settings), anything else is a comparison. There is one row
per (vapi_fast variant, comparison) pair of a group. Times are medians per call; the ratio is the comparison's
median over vapi_fast's, so above 1 means vapi_fast is faster. Benchmarks recording ``extra_info["pcm_bytes"]``
(``bytes_pcm`` is read too) also show throughput in GB/s of PCM.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Result", "find_latest", "load", "main", "render"]

PRIMARY = "vapi_fast"
#: Display names; other libraries are shown as their test name with spaces.
LABELS = {
    "vapi_fast": "vapi_fast",
    "audioop": "audioop",
    "numpy_table": "numpy table",
    "soxr_hq": "soxr HQ",
    "soxr_vhq": "soxr VHQ (pipecat's setting)",
    "audioop_soxr_hq": "audioop + soxr HQ",
    "audioop_soxr_vhq": "audioop + soxr VHQ (pipecat's setting)",
}
_NO_RESULTS = (
    "No benchmark results found. Run `pytest benches --benchmark-only --benchmark-autosave` (saves under "
    ".benchmarks/), or `pytest benches --benchmark-only --benchmark-json=FILE` and pass FILE to this script."
)


@dataclass(frozen=True)
class Result:
    """One benchmark from a pytest-benchmark JSON file."""

    group: str
    param: str
    library: str
    median_s: float
    pcm_bytes: int | None


def library_of(test_name: str) -> str:
    """``test_soxr_hq[8000-16000]`` -> ``soxr_hq``."""
    return test_name.split("[", 1)[0].removeprefix("test_")


def label(library: str) -> str:
    """Display name of a library; vapi_fast variants by their suffix (``vapi_fast_low`` -> ``low``)."""
    if library.startswith(PRIMARY + "_"):
        return library.removeprefix(PRIMARY + "_").replace("_", " ")
    return LABELS.get(library, library.replace("_", " "))


def find_latest(directories: Iterable[Path]) -> Path | None:
    """The most recently modified ``*.json`` below any of ``directories``, or None."""
    files = [path for directory in directories if directory.is_dir() for path in directory.rglob("*.json")]
    return max(files, key=lambda path: path.stat().st_mtime, default=None)


def load(path: Path) -> tuple[list[Result], str]:
    """Read a pytest-benchmark JSON file: its results, and a one-line description of the run."""
    data = json.loads(path.read_text(encoding="utf-8"))
    results = []
    for bench in data.get("benchmarks", []):
        extra = bench.get("extra_info") or {}
        pcm_bytes = extra.get("pcm_bytes", extra.get("bytes_pcm"))
        results.append(
            Result(
                group=str(bench.get("group") or "(no group)"),
                param=str(bench.get("param") or ""),
                library=library_of(str(bench["name"])),
                median_s=float(bench["stats"]["median"]),
                pcm_bytes=int(pcm_bytes) if pcm_bytes is not None else None,
            )
        )
    machine = data.get("machine_info") or {}
    cpu = (machine.get("cpu") or {}).get("brand_raw") or machine.get("processor") or "unknown CPU"
    python = f"{machine.get('python_implementation', 'Python')} {machine.get('python_version', '?')}"
    run = f"{path.name}: {data.get('datetime', 'unknown time')}, {cpu}, {python}"
    return results, run


def format_time(seconds: float) -> str:
    """A duration in ns, us, ms or s with three significant digits."""
    unit, scale = next(
        ((unit, scale) for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)) if seconds >= scale), ("ns", 1e-9)
    )
    value = seconds / scale
    decimals = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{decimals}f} {unit}"


def _cell(result: Result, name: str | None) -> str:
    text = format_time(result.median_s)
    if result.pcm_bytes:
        text += f", {result.pcm_bytes / result.median_s / 1e9:.2f} GB/s"
    return f"{name}: {text}" if name else text


def _ratio(vapi_fast: Result, comparison: Result) -> str:
    ratio = comparison.median_s / vapi_fast.median_s
    if ratio >= 1:
        return f"{ratio:.2f}x faster"
    return f"{ratio:.2f}x ({1 / ratio:.2f}x slower)"


def render(results: Sequence[Result]) -> str:
    """The Markdown table: one row per (vapi_fast variant, comparison) in each group, groups in file order."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        groups.setdefault((result.group, result.param), []).append(result)
    lines = [
        "| group | vapi_fast median | comparison median | comparison / vapi_fast |",
        "| --- | --- | --- | --- |",
    ]
    for (group, _), members in groups.items():
        ours = [r for r in members if r.library == PRIMARY or r.library.startswith(PRIMARY + "_")]
        ours.sort(key=lambda r: r.library != PRIMARY)  # the reference first, then variants in file order
        theirs = [r for r in members if all(r is not o for o in ours)]
        # A side with no result (a skipped test) shows as "-".
        mine_rows: list[Result | None] = list(ours) or [None]
        other_rows: list[Result | None] = list(theirs) or [None]
        for mine in mine_rows:
            for other in other_rows:
                mine_cell = (
                    "-" if mine is None else _cell(mine, None if mine.library == PRIMARY else label(mine.library))
                )
                other_cell = "-" if other is None else _cell(other, label(other.library))
                ratio = "-" if mine is None or other is None else _ratio(mine, other)
                lines.append(f"| {group} | {mine_cell} | {other_cell} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table for a JSON file (default: the newest under .benchmarks/); 0 also when there is none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("json", nargs="?", type=Path, help="pytest-benchmark JSON (default: newest in .benchmarks/)")
    args = parser.parse_args(argv)
    path: Path | None = args.json
    if path is None:
        repo_root = Path(__file__).resolve().parent.parent
        path = find_latest(dict.fromkeys([Path.cwd() / ".benchmarks", repo_root / ".benchmarks"]))
    if path is None or not path.is_file():
        print(_NO_RESULTS if path is None else f"{path} does not exist. {_NO_RESULTS}")
        return 0
    try:
        results, run = load(path)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"{path} is not a pytest-benchmark JSON file ({exc!r}).", file=sys.stderr)
        return 1
    if not results:
        print(f"{path} holds no timed benchmarks (was it written with --benchmark-disable?). {_NO_RESULTS}")
        return 0
    print(f"Benchmarks from {run}")
    print()
    print(render(results))
    print()
    print(
        "Medians per call. Ratio above 1: vapi_fast is faster. GB/s counts the PCM side "
        "(input of encode and resample, output of decode)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
