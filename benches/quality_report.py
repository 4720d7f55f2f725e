"""Print the resampler's measured quality figures for each setting (the README's quality table).

Run: python benches/quality_report.py
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import tone
from test_resample import fit_sine, pcm, samples, spectrum_dbfs, trimmed
from vapi_fast.audio import Quality, Resampler, resample

PAIRS = [(8000, 16000), (16000, 8000), (16000, 24000), (24000, 16000), (48000, 16000), (44100, 16000),
         (8000, 48000), (11025, 8000), (22050, 48000)]  # fmt: skip
RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]
EDGE: dict[Quality, float] = {"high": 0.45, "medium": 0.43, "low": 0.40}


def figures(quality: Quality) -> dict[str, float]:
    passband = 0.0
    alias = image = thd = -1e9
    edge = EDGE[quality]
    for fin, fout in PAIRS:
        low = min(fin, fout)
        for freq in [100.0, 1000.0, 0.25 * low, edge * low]:
            x = tone(freq, fin, 0.5, dbfs=-1.0)
            a, _ = fit_sine(trimmed(x.astype(np.float64), fin), freq, fin)
            b, _ = fit_sine(trimmed(samples(resample(pcm(x), fin, fout, quality)), fout), freq, fout)
            passband = max(passband, abs(20 * np.log10(b / a)))
        if fin > fout:
            for freq in [fout / 2, fout / 2 * 1.05, fout / 2 * 1.25, 0.45 * fin]:
                y = trimmed(samples(resample(pcm(tone(freq, fin, 0.5, 0.0)), fin, fout, quality)), fout)
                alias = max(alias, float(spectrum_dbfs(y, fout)[1].max()))
        else:
            for freq in [997.0, edge * fin]:
                # -0.5 dBFS so that passband ripple cannot clip (as in the tests).
                y = trimmed(samples(resample(pcm(tone(freq, fin, 0.5, -0.5)), fin, fout, quality)), fout)
                f, level = spectrum_dbfs(y, fout)
                image = max(image, float(level[f >= fin / 2].max()))
        y = trimmed(samples(resample(pcm(tone(997.0, fin, 0.5, -1.0)), fin, fout, quality)), fout)
        amp, residual = fit_sine(y, 997.0, fout)
        thd = max(thd, float(10 * np.log10(np.mean(residual**2) / (amp**2 / 2))))
    delay = max(Resampler(a, b, quality).delay_samples * 1000 / b for a, b in itertools.product(RATES, RATES))
    return {"edge": edge, "passband": passband, "alias": alias, "image": image, "thd": thd, "delay": delay}


def main() -> None:
    print("| quality | passband edge (x lower rate) | worst passband deviation | worst alias | worst image |"
          " worst 1 kHz THD+N at -1 dBFS | worst look-ahead |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for quality in ("high", "medium", "low"):
        f = figures(quality)
        print(f"| {quality} | {f['edge']:.2f} | {f['passband']:.4f} dB | {f['alias']:.1f} dBFS | {f['image']:.1f} dBFS"
              f" | {f['thd']:.1f} dB | {f['delay']:.2f} ms |")  # fmt: skip


if __name__ == "__main__":
    main()
