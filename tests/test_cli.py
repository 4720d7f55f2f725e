"""The command line, through main(argv)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import speech_like
from vapi_fast.audio import AudioFormat
from vapi_fast.cli import main, read_wav, write_wav


def test_offline_runs_both_audio_paths_and_writes_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["offline", "--seconds", "2", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "wire frames:        100 x [160] bytes" in out
    snr = float(out.split("round trip SNR:")[1].split("dB")[0])
    assert snr >= 30.0
    pcm, fmt = read_wav(tmp_path / "round_trip.wav")
    assert fmt == AudioFormat("pcm_s16le", 16000) and len(pcm) == 2 * 32000


def test_offline_takes_a_wav_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.wav"
    write_wav(src, np.repeat(speech_like(44100, 0.5), 2).tobytes(), AudioFormat("pcm_s16le", 44100, 2))
    assert main(["offline", "--input", str(src), "--output-dir", str(tmp_path / "out")]) == 0
    assert "wire frames:        25 x [160] bytes" in capsys.readouterr().out


def test_transcode_converts_rate_and_channels(tmp_path: Path) -> None:
    src, dst = tmp_path / "a.wav", tmp_path / "b.wav"
    write_wav(src, speech_like(16000, 1.0).tobytes(), AudioFormat("pcm_s16le", 16000))
    assert main(["transcode", str(src), str(dst), "--rate", "48000", "--channels", "2"]) == 0
    with wave.open(str(dst)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (48000, 2, 48000)


def test_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcode", str(tmp_path / "missing.wav"), str(tmp_path / "x.wav")]) == 2
    assert "vapi-fast: error:" in capsys.readouterr().err
    src = tmp_path / "a.wav"
    write_wav(src, bytes(3200), AudioFormat("pcm_s16le", 16000))
    assert main(["transcode", str(src), str(tmp_path / "x.wav"), "--rate", "96000"]) == 2
    assert "8000 to 48000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["no-such-command"])


def test_jitter_report_writes_the_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jitter-report", "--out", str(tmp_path), "--seed", "3"]) == 0
    table = (tmp_path / "jitter_report.md").read_text()
    assert table.count("| adaptive p0.95 |") == 7 and "| fixed 160 ms |" in table and "offline optimum" in table
    png = (tmp_path / "jitter_report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "wrote" in capsys.readouterr().out


def test_demo_runs_a_whole_call_against_the_mock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "assistant.wav"
    assert main(["demo", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "user-interrupted" in text and "transcript" in text and "summary:" in text
    barge_ins = int(text.split("barge-ins:")[1].split(",")[0])
    assert barge_ins >= 1
    pcm, fmt = read_wav(out)
    assert fmt == AudioFormat("pcm_s16le", 16000) and len(pcm) > 16000 * 2 * 5
    assert np.abs(np.frombuffer(pcm, np.int16)).max() > 1000  # the assistant's audio, not silence


def test_call_needs_a_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    assert main(["call", "--assistant-id", "a"]) == 2
    assert "VAPI_API_KEY" in capsys.readouterr().err


def test_call_reports_an_unreachable_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["call", "--api-key", "k", "--assistant-id", "a", "--base-url", "http://127.0.0.1:9",
                 "--output", str(tmp_path / "x.wav")])  # fmt: skip
    assert code == 2 and "vapi-fast: error:" in capsys.readouterr().err


def test_serve_reports_an_unknown_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "no_such_module:router"]) == 2
    assert "vapi-fast: error:" in capsys.readouterr().err
