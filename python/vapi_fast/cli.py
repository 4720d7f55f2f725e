"""The ``vapi-fast`` command line (also ``python -m vapi_fast``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import __version__
from .audio import AudioFormat, AudioFormatError, Transcoder, ulaw_decode
from .errors import VapiFastError
from .protocol import Message
from .session import DEFAULT_BASE_URL, Session

__all__ = ["main"]

logger = logging.getLogger(__name__)

WIRE = AudioFormat("mulaw", 8000)


def read_wav(path: Path) -> tuple[bytes, AudioFormat]:
    """Read a 16-bit PCM WAV file.

    Raises:
        AudioFormatError: the file is not 16-bit PCM.
    """
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getcomptype() != "NONE":
            raise AudioFormatError(f"{path}: only 16-bit PCM WAV files are supported")
        return w.readframes(w.getnframes()), AudioFormat("pcm_s16le", w.getframerate(), w.getnchannels())


def write_wav(path: Path, pcm: bytes, fmt: AudioFormat) -> None:
    """Write 16-bit PCM as a WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(fmt.channels)
        w.setsampwidth(2)
        w.setframerate(fmt.sample_rate)
        w.writeframes(pcm)


def speech_like(sample_rate: int, seconds: float, seed: int = 7) -> npt.NDArray[np.int16]:
    """Deterministic speech-like audio: a gliding voiced tone with harmonics under a syllable envelope."""
    rng = np.random.default_rng(seed)
    n = int(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    x = sum(np.sin(h * phase) / h for h in range(1, 16) if 160 * h < min(3400, sample_rate / 2))
    syllables = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.6
    pauses = (np.sin(2 * np.pi * 0.2 * t) > -0.6).astype(np.float64)
    y = np.asarray(x) * syllables * pauses + 0.002 * rng.standard_normal(n)
    y *= 0.1 * 32767 / max(1e-9, float(np.sqrt(np.mean(y**2))))
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def _joined(out: bytes | list[bytes]) -> bytes:
    return out if isinstance(out, bytes) else b"".join(out)


def offline(args: argparse.Namespace) -> int:
    """Run a call's two audio paths offline: caller audio to Vapi's wire format and back."""
    if args.input:
        pcm, local = read_wav(Path(args.input))
    else:
        local = AudioFormat("pcm_s16le", args.rate)
        pcm = speech_like(args.rate, args.seconds).tobytes()
    frame = local.bytes_per_frame(20) if local.sample_rate * 20 % 1000 == 0 else local.bytes_per_frame(40)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = len(pcm) / local.bytes_per_second()
    print(f"vapi-fast {__version__}: {seconds:.1f} s of {local} -> {WIRE} (20 ms frames) -> back")

    uplink = Transcoder(local, WIRE, frame_ms=20)
    downlink = Transcoder(WIRE, local)
    wire_frames: list[bytes] = []
    returned: list[bytes] = []
    started = time.perf_counter()
    step = max(1, len(pcm) // frame // 10)
    for i, start in enumerate(range(0, len(pcm), frame)):
        frames = uplink.push(pcm[start : start + frame])
        assert isinstance(frames, list)
        wire_frames.extend(frames)
        for f in frames:
            returned.append(_joined(downlink.push(f)))
        if i % step == 0:
            print(f"  {100 * start / len(pcm):5.1f}%  {len(wire_frames)} wire frames", flush=True)
    tail = uplink.flush()
    assert isinstance(tail, list)
    wire_frames.extend(tail)
    for f in tail:
        returned.append(_joined(downlink.push(f)))
    returned.append(_joined(downlink.flush()))
    elapsed = time.perf_counter() - started

    back = b"".join(returned)
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    y = np.frombuffer(back[: len(pcm)], np.int16).astype(np.float64)
    n = min(len(x), len(y))
    noise = float(np.sum((x[:n] - y[:n]) ** 2))
    snr = 10 * math.log10(float(np.sum(x[:n] ** 2)) / noise) if noise else math.inf
    write_wav(out_dir / "caller.wav", pcm, local)
    write_wav(out_dir / "round_trip.wav", back, local)
    with wave.open(str(out_dir / "wire_mulaw_as_pcm.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(ulaw_decode(b"".join(wire_frames)))
    sizes = {len(f) for f in wire_frames}
    print("summary:")
    print(f"  wire frames:        {len(wire_frames)} x {sorted(sizes)} bytes ({len(wire_frames) * 20 / 1000:.2f} s)")
    print(f"  round trip SNR:     {snr:.1f} dB (G.711 plus two resampling passes, band-limited speech)")
    print(f"  processing:         {elapsed * 1e3:.1f} ms for {seconds:.1f} s ({seconds / elapsed:,.0f}x real time)")
    print(f"  resampler delay:    {uplink.delay_samples * 1000 / WIRE.sample_rate:.2f} ms up, "
          f"{downlink.delay_samples * 1000 / local.sample_rate:.2f} ms down")  # fmt: skip
    print(f"  wrote:              {out_dir}/caller.wav, round_trip.wav, wire_mulaw_as_pcm.wav")
    return 0


def transcode(args: argparse.Namespace) -> int:
    """Convert a 16-bit WAV file to another rate and channel count."""
    pcm, src = read_wav(Path(args.input))
    dst = AudioFormat("pcm_s16le", args.rate or src.sample_rate, args.channels or src.channels)
    t = Transcoder(src, dst, quality=args.quality)
    out = _joined(t.push(pcm)) + _joined(t.flush())
    write_wav(Path(args.output), out, dst)
    print(f"{args.input}: {src} -> {args.output}: {dst}")
    return 0


LOCAL = AudioFormat("pcm_s16le", 16000)


def caller_script(local: AudioFormat) -> bytes:
    """The demo caller: waits, talks over the assistant's greeting (a barge-in), pauses, talks again."""
    speech = speech_like(local.sample_rate, 1.4)
    second = speech_like(local.sample_rate, 1.0, seed=11)
    silence = np.zeros(local.sample_rate // 10, np.int16)  # 100 ms
    parts = [silence] * 10 + [speech] + [silence] * 30 + [second] + [silence] * 35
    return np.concatenate(parts).tobytes()


def _describe(message: Message) -> str:
    raw = message.raw
    match message.type:
        case "speech-update":
            return f"{raw.get('role')} {raw.get('status')}"
        case "transcript":
            return f"{raw.get('role')} ({raw.get('transcriptType')}): {raw.get('transcript')!s:.60}"
        case "status-update":
            return f"{raw.get('status')}" + (f" ({raw.get('endedReason')})" if raw.get("endedReason") else "")
        case "model-output":
            return repr(str(raw.get("output"))[:40])
        case _:
            return ""


async def run_call(session: Session, caller: bytes, output: Path, *, quiet: bool) -> dict[str, Any]:
    """Drive one call: stream the caller in real time, record the assistant, print messages live."""
    started = time.perf_counter()
    recorded: list[bytes] = []
    counts: dict[str, int] = {}

    def show(message: Message) -> None:
        counts[message.type] = counts.get(message.type, 0) + 1
        if not quiet and message.type != "model-output":
            print(f"  [{time.perf_counter() - started:6.2f}s] {message.type:<20} {_describe(message)}", flush=True)

    session.on("*", show)

    async def record() -> None:
        async for frame in session.audio():
            recorded.append(frame)

    recorder = asyncio.ensure_future(record())
    try:
        step = session.local.bytes_per_frame(100)
        for start in range(0, len(caller), step):
            await session.send_audio(caller[start : start + step])
        # Let the queued caller audio play out, then hang up.
        while session.stats()["audio_frames_pending"] and session.ended is None:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    finally:
        await session.close()
        await asyncio.gather(recorder, return_exceptions=True)
    write_wav(output, b"".join(recorded), session.local)
    stats = session.stats()
    stats["message_counts"] = counts
    stats["seconds"] = time.perf_counter() - started
    return stats


def print_summary(stats: dict[str, Any], session: Session, output: Path) -> None:
    jitter = stats["jitter"]
    flush = stats["flush_latency_us_max"]
    print("summary:")
    print(f"  call:               {session.call_id} ended: {session.ended}")
    print(f"  duration:           {stats['seconds']:.1f} s")
    print(f"  frames sent:        {stats['frames_sent']} ({stats['silence_frames_sent']} silence) on {session.wire}")
    print(f"  frames received:    {stats['binary_messages_received']} chunks, {stats['bytes_received']} bytes")
    print(f"  pacer lateness:     p50 {stats['lateness_ms_p50']:.2f} ms, p99 {stats['lateness_ms_p99']:.2f} ms")
    print(f"  messages:           {stats['messages_received']} ({stats['messages_skipped']} skipped)")
    print(f"  barge-ins:          {stats['barge_ins']}, flushed {stats['flushed_ms']} ms of stale audio"
          + (f", flush latency max {flush:.0f} us" if flush is not None else ""))  # fmt: skip
    print(f"  jitter buffer:      target {jitter['preferred_buffer_size_ms']:.0f} ms, delay mean "
          f"{jitter['delay_mean_ms']:.0f} ms / p95 {jitter['delay_p95_ms']:.0f} ms, concealed "
          f"{jitter['concealed_speech_ms']:.0f} ms speech, dropped {jitter['frames_dropped']} frames")  # fmt: skip
    print(f"  assistant audio:    {output} ({stats['frames_played']} frames of {session.local})")


def _caller_audio(path: str | None, local: AudioFormat) -> bytes:
    if not path:
        return caller_script(local)
    pcm, fmt = read_wav(Path(path))
    t = Transcoder(fmt, local)
    return _joined(t.push(pcm)) + _joined(t.flush())


def _wire(name: str) -> AudioFormat:
    return AudioFormat("mulaw", 8000) if name == "mulaw" else AudioFormat("pcm_s16le", 16000)


def demo(args: argparse.Namespace) -> int:
    """A whole call against the built-in mock Vapi: the main job on a machine with no account."""
    from .mock import MockBehaviour, MockVapi

    caller = _caller_audio(args.input, LOCAL)
    # The caller talks over the greeting: let the greeting be interrupted, as assistants usually allow.
    behaviour = MockBehaviour(first_message_interruptions_enabled=True)

    async def go() -> int:
        async with MockVapi("demo-key", behaviour=behaviour) as mock:
            print(f"mock Vapi on {mock.base_url}; creating a call ({args.wire} on the wire, PCM 16 kHz locally)")
            session = await Session.create(
                "demo-key", assistant_id="demo-assistant", base_url=mock.base_url, wire=_wire(args.wire), local=LOCAL
            )
            stats = await run_call(session, caller, Path(args.output), quiet=args.quiet)
            print_summary(stats, session, Path(args.output))
            return 0 if stats["barge_ins"] and stats["frames_sent"] else 1

    return asyncio.run(go())


def call(args: argparse.Namespace) -> int:
    """A call with a real Vapi account."""
    api_key = args.api_key or os.environ.get("VAPI_API_KEY")
    if not api_key:
        print("vapi-fast: error: pass --api-key or set VAPI_API_KEY", file=sys.stderr)
        return 2
    caller = _caller_audio(args.input, LOCAL)

    async def go() -> int:
        session = await Session.create(
            api_key, assistant_id=args.assistant_id, base_url=args.base_url, wire=_wire(args.wire), local=LOCAL
        )
        stats = await run_call(session, caller, Path(args.output), quiet=args.quiet)
        print_summary(stats, session, Path(args.output))
        return 0

    return asyncio.run(go())


def mock(args: argparse.Namespace) -> int:
    """Run a local mock Vapi until Ctrl+C."""
    from .mock import MockBehaviour, run

    return run(
        args.port,
        host=args.host,
        ws_port=args.ws_port,
        api_key=args.api_key,
        server_url=args.server_url,
        behaviour=MockBehaviour(pacing=args.pacing),
    )


def serve(args: argparse.Namespace) -> int:
    """Serve a webhook Router (or any ASGI app) with uvicorn until Ctrl+C."""
    from .webhooks import serve as serve_app

    serve_app(args.app, host=args.host, port=args.port, log_level="debug" if args.verbose else "info")
    return 0


def jitter_report(args: argparse.Namespace) -> int:
    """Run the jitter-buffer evaluation and write its table and plot."""
    from .jitter_report import write_report

    for path in write_report(Path(args.out), seed=args.seed, progress=lambda text: print(f"  {text}", flush=True)):
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vapi-fast", description="Real-time voice calls with Vapi, fast.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="a whole call against the built-in mock Vapi, with a barge-in (no account)")
    p.add_argument("--input", help="a 16-bit PCM WAV file to use as the caller (default: synthetic speech)")
    p.add_argument("--output", default="vapi-fast-demo.wav", help="where to write the assistant's audio")
    p.add_argument("--wire", choices=["mulaw", "pcm"], default="mulaw", help="audio format on the socket")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=demo)

    p = sub.add_parser("call", help="a call with a real Vapi account (key from VAPI_API_KEY)")
    p.add_argument("--api-key", default=None, help="private API key (default: $VAPI_API_KEY)")
    p.add_argument("--assistant-id", required=True)
    p.add_argument("--base-url", default=DEFAULT_BASE_URL)
    p.add_argument("--input", help="a 16-bit PCM WAV file to use as the caller (default: synthetic speech)")
    p.add_argument("--output", default="vapi-fast-call.wav", help="where to write the assistant's audio")
    p.add_argument("--wire", choices=["mulaw", "pcm"], default="mulaw", help="audio format on the socket")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=call)

    p = sub.add_parser("mock", help="run a local mock Vapi (POST /call and the call WebSocket) until Ctrl+C")
    p.add_argument("--port", type=int, default=0, help="HTTP port (0: any free port)")
    p.add_argument("--ws-port", type=int, default=0, help="WebSocket port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-key", default="mock-key", help="Bearer key POST /call requires")
    p.add_argument("--server-url", help="POST server URL events here")
    p.add_argument("--pacing", choices=["bursty", "realtime", "fast"], default="bursty")
    p.set_defaults(func=mock)

    p = sub.add_parser("offline", help="run a call's two audio paths offline (no sockets) and report")
    p.add_argument("--input", help="a 16-bit PCM WAV file to use as the caller (default: synthetic speech)")
    p.add_argument("--rate", type=int, default=16000, help="caller sample rate for synthetic speech (Hz)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of synthetic speech")
    p.add_argument("--output-dir", default="vapi-fast-offline", help="where to write the WAV files")
    p.set_defaults(func=offline)

    p = sub.add_parser("transcode", help="convert a 16-bit WAV file to another rate or channel count")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--rate", type=int, help="output sample rate (Hz)")
    p.add_argument("--channels", type=int, help="output channels (1 or the input's count)")
    p.add_argument("--quality", choices=["low", "medium", "high"], default="high")
    p.set_defaults(func=transcode)

    p = sub.add_parser("serve", help="serve a webhook Router (module:attribute or file.py:attribute) with uvicorn")
    p.add_argument("app", help="the app, as package.module:router or path/to/file.py:router")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=serve)

    p = sub.add_parser("jitter-report", help="evaluate the jitter buffer on simulated traces; write a table and plot")
    p.add_argument("--out", default="docs", help="output directory")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=jitter_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        status: int = args.func(args)
    except (AudioFormatError, VapiFastError, OSError, wave.Error) as exc:
        print(f"vapi-fast: error: {exc}", file=sys.stderr)
        return 2
    return status
