"""N concurrent calls at real-time pace against the mock Vapi in a second process, on loopback.

Run one configuration::

    python -m benches.load.harness --calls 200 --seconds 20 --variant vapi_fast [--json out.json]

Every call has mu-law 8 kHz on the wire, both directions, and (except ``raw``) PCM 16 kHz locally. Variants:

* ``vapi_fast``: :class:`vapi_fast.session.Session` as shipped (native transcoders and jitter buffer).
* ``audioop_soxr``: the same Session with the audio path users build today (pipecat's): ``audioop`` G.711 around
  one ``soxr.ResampleStream`` (HQ, int16) per direction, numpy in between, 20 ms framing in Python, Vapi's audio
  converted on arrival and buffered as local PCM. Swapped in through ``Session._make_transcoders`` and
  ``Session._playout_format``; everything else (pacer, jitter buffer, protocol) is the same code.
* ``raw``: the ceiling for audio work. A ``websockets`` connection per call with a pacer task (the pacing loop a
  Session used to run: ``asyncio.sleep`` to the next 20 ms tick, ``send`` with websockets' own API) and a reader
  task, sending pre-encoded 160-byte mu-law frames; no audio conversion, no jitter buffer, no protocol parsing.
  It is how a call is written with ``websockets`` on its own; the Session's pacer is cheaper per tick (timer
  callbacks, frames written through the connection's protocol), so the Session can use less CPU per call.

The caller side (what an application does with a Session) costs as little as a real bridge can: one task for all calls
(``--io shared``, the default) feeds each call 20 ms of speech-like PCM per 20 ms (``send_audio``, 20 ms per call; 300
ms of wire frames are queued at connect so neither a late pass nor soxr's 100 ms output blocks starve the pacer, and a
late pass catches up) and drains the frames each call's ``audio()`` iterator has ready, never waiting on one call.
``--io per-call`` runs one bridge task per call instead (``async for frame in session.audio(): send_audio(...)``), one
more task wake-up per call every 20 ms. The mock plays one long assistant utterance per call (its first message,
bursty pacing like Vapi's by default) and the client mutes the caller side at connect (``mute-customer``), so the
assistant is never interrupted and the mock does no turn detection: audio flows both ways for the whole run.

Measured over the steady window (after the ramp-up and ``--settle`` seconds), all in one JSON object:

* client CPU (user + sys of this process) per call per second of call, and calls per core = N / (CPU seconds per
  wall second);
* frame lateness: how late each 20 ms pacer tick (the moment the uplink frame is sent and the playout frame popped)
  ran against its schedule, pooled over all calls; the same definition and the same loop for the three variants;
* lost frames: uplink frames not sent when due (pacer ticks skipped after a stall of more than 200 ms, or silence
  sent because the caller's audio was not queued in time) or never received by the mock; downlink frames lost to
  skipped ticks, to the jitter buffer (late, duplicate or overflow drops) or to the application queue
  (``audio_frames_dropped``). ``raw`` has no playout, so only its uplink and the socket are checked;
* speech concealment, reported next to the losses but not counted in them: the jitter buffer conceals a frame when
  audio has not arrived in time. Part of it is what the downlink's arrival pattern implies even for an idle client
  (the bursty pacing, or a resampler that hands its output back in blocks, as soxr does); compare it against the
  same variant at a low call count. The pacer and the reader share one event loop, so a late loop delays the
  playout as much as the arrivals: load shows up as lateness and skipped ticks much more than as concealment;
* RSS per call: RSS after the ramp-up minus RSS before it, over N (and the same at the end of the window);
* the mock's CPU, RSS and event-loop lag, so a saturated mock is not mistaken for a slow client; the CPU every
  other process used meanwhile (a busy neighbour on a 2-core machine moves the lateness cliff), and the machine's
  busy time from /proc/stat (tick-sampled, approximate; it includes the kernel's loopback networking);
* the client's garbage-collector pauses during the window (collections per generation, longest pause): with
  hundreds of calls a full collection walks every object of every call while no pacer runs.

All calls end with ``end-call``; the mock process is stopped (killed if it does not stop) and has its own
lifetime limit. The whole run is bounded by ``--timeout`` (default: the planned duration plus a margin).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import importlib
import json
import os
import re
import resource
import sys
import time
import warnings
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
from vapi_fast._histogram import MsHistogram
from vapi_fast.audio import AudioFormat, resample, ulaw_encode
from vapi_fast.errors import CallEnded, ConnectionLost, VapiFastError
from vapi_fast.session import Session, SessionOptions
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

__all__ = ["IO_MODES", "VARIANTS", "LoadConfig", "main", "run_load"]

#: The three audio paths compared.
VARIANTS = ("vapi_fast", "raw", "audioop_soxr")
#: How the application side feeds and drains the calls.
IO_MODES = ("shared", "per-call")

WIRE = AudioFormat("mulaw", 8000)
LOCAL = AudioFormat("pcm_s16le", 16000)
FRAME_MS = 20
#: The Session's default lead; the raw loop keeps the same.
LEAD_MS = SessionOptions().send_lead_ms
#: Caller audio queued at connect, in 20 ms wire frames.
PREQUEUE_FRAMES = 15
#: Length of the looping caller clip.
CLIP_SECONDS = 2.0
API_KEY = "mock-key"
#: The directory holding the ``benches`` package: the working directory of the mock process.
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_URL_LINE = re.compile(r"Mock Vapi listening: (http://\S+)")


@dataclass(frozen=True)
class LoadConfig:
    """One run of the harness.

    Attributes:
        variant: one of :data:`VARIANTS`.
        calls: concurrent calls.
        seconds: length of the measured (steady) window.
        ramp_s: the calls are started evenly over this long.
        settle_s: wait this long after the last call connected before measuring.
        pacing: the mock's downlink pacing (``bursty`` is Vapi's).
        io: how the application side feeds and drains the calls (:data:`IO_MODES`).
        timeout_s: hard limit on the whole run (default: planned time plus a margin).
    """

    variant: str = "vapi_fast"
    calls: int = 50
    seconds: float = 20.0
    ramp_s: float = 2.0
    settle_s: float = 2.0
    pacing: str = "bursty"
    io: str = "shared"
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {self.variant!r}")
        if self.io not in IO_MODES:
            raise ValueError(f"io must be one of {IO_MODES}, not {self.io!r}")
        if self.calls < 1 or self.seconds <= 0 or self.ramp_s < 0 or self.settle_s < 0:
            raise ValueError("calls must be >= 1, seconds > 0, ramp and settle >= 0")

    @property
    def hard_timeout_s(self) -> float:
        """The limit on the whole run."""
        if self.timeout_s is not None:
            return self.timeout_s
        return self.ramp_s + self.settle_s + self.seconds + 45.0 + 0.05 * self.calls

    @property
    def reply_ms(self) -> int:
        """Length of the mock's utterance: longer than the whole call."""
        return int((self.ramp_s + self.settle_s + self.seconds + 15.0 + 0.03 * self.calls) * 1000)


# ------------------------------------------------------------------------------------------------
# Process measurements


def _rss_kib(pid: int | None = None) -> int | None:
    """Resident set size of ``pid`` (default this process), from /proc; ``None`` where there is no /proc."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() // 1024
    except (OSError, ValueError, IndexError):
        return None


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process, from /proc; ``None`` where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def others_cpu_s(exclude: Sequence[int]) -> dict[int, float]:
    """CPU seconds (user + system) of every other process, by pid, from /proc (empty without it): what else the
    machine ran during a window is the difference of two calls over the pids present in both."""
    skip = {os.getpid(), *exclude}
    tick = os.sysconf("SC_CLK_TCK")
    result: dict[int, float] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return result
    for name in names:
        if not name.isdigit() or int(name) in skip:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            result[int(name)] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return result


def others_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds other processes used between two :func:`others_cpu_s` snapshots."""
    return sum(after[pid] - before[pid] for pid in after.keys() & before.keys())


def _machine_busy_s() -> float | None:
    """CPU seconds all cores spent on anything but idling since boot, from /proc/stat (``None`` without it)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:8]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------------------------------------
# Caller audio


def _speech_like(sample_rate: int, seconds: float, seed: int = 3) -> npt.NDArray[np.int16]:
    """Harmonics of a gliding pitch under a 3.3 Hz syllable envelope, -20 dBFS RMS (like benches.conftest)."""
    rng = np.random.default_rng(seed)
    n = round(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    phase = 2 * np.pi * np.cumsum(140 + 30 * np.sin(2 * np.pi * 0.7 * t)) / sample_rate
    x: npt.NDArray[np.float64] = np.zeros(n)
    for harmonic in range(1, 20):
        x += np.sin(harmonic * phase) / harmonic
    x = x * np.sqrt(np.clip(np.sin(2 * np.pi * 3.3 * t), 0, None)) + 0.01 * rng.standard_normal(n)
    x *= 32768 * 10 ** (-20 / 20) / np.sqrt(np.mean(x**2))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class CallerAudio:
    """A looping speech-like clip cut into 20 ms frames: PCM 16 kHz (``local``) and mu-law 8 kHz (``wire``)."""

    local: tuple[bytes, ...]
    wire: tuple[bytes, ...]

    @classmethod
    def build(cls) -> CallerAudio:
        pcm = _speech_like(LOCAL.sample_rate, CLIP_SECONDS).tobytes()
        ulaw = ulaw_encode(resample(pcm, LOCAL.sample_rate, WIRE.sample_rate))
        lb, wb = LOCAL.bytes_per_frame(FRAME_MS), WIRE.bytes_per_frame(FRAME_MS)
        local = tuple(pcm[i : i + lb] for i in range(0, len(pcm) - lb + 1, lb))
        wire = tuple(ulaw[i : i + wb] for i in range(0, len(ulaw) - wb + 1, wb))
        return cls(local, wire)


# ------------------------------------------------------------------------------------------------
# Variant (b): audioop + soxr behind the Session's transcoder seam


def _import_audioop() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("audioop")
        except ModuleNotFoundError:  # Python 3.13+: the audioop-lts package
            return importlib.import_module("audioop_lts")


class _AudioopSoxrUplink:
    """PCM 16 kHz -> mu-law 8 kHz in 20 ms frames: soxr HQ stream, ``audioop.lin2ulaw``, framing in Python."""

    def __init__(self, local: AudioFormat, wire: AudioFormat, soxr: Any, audioop: Any) -> None:
        self._stream = soxr.ResampleStream(local.sample_rate, wire.sample_rate, 1, dtype="int16", quality="HQ")
        self._lin2ulaw = audioop.lin2ulaw
        self._frame = wire.bytes_per_frame(FRAME_MS)
        self._pending = bytearray()

    def push(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        pcm = self._stream.resample_chunk(np.frombuffer(data, dtype=np.int16)).astype(np.int16).tobytes()
        self._pending += self._lin2ulaw(pcm, 2)
        size = self._frame
        n = len(self._pending) // size
        frames = [bytes(self._pending[i * size : (i + 1) * size]) for i in range(n)]
        del self._pending[: n * size]
        return frames

    def reset(self) -> None:
        self._stream.clear()
        self._pending.clear()


class _AudioopSoxrDownlink:
    """mu-law 8 kHz -> PCM 16 kHz: ``audioop.ulaw2lin``, soxr HQ stream (as pipecat's SOXRStreamAudioResampler)."""

    def __init__(self, wire: AudioFormat, local: AudioFormat, soxr: Any, audioop: Any) -> None:
        self._stream = soxr.ResampleStream(wire.sample_rate, local.sample_rate, 1, dtype="int16", quality="HQ")
        self._ulaw2lin = audioop.ulaw2lin

    def push(self, data: bytes | bytearray | memoryview) -> bytes:
        pcm = self._ulaw2lin(data, 2)
        out: bytes = self._stream.resample_chunk(np.frombuffer(pcm, dtype=np.int16)).astype(np.int16).tobytes()
        return out

    def reset(self) -> None:
        self._stream.clear()


class MeasuredSession(Session):
    """A Session whose pacer measurements the harness can window and whose playout queue it can drain without
    waiting (reads three private attributes; the benchmark breaks loudly under mypy if they are renamed)."""

    __slots__ = ()  # measure the Session as shipped: no per-instance dict

    def reset_lateness(self) -> None:
        """Forget the pacer lateness recorded so far (start of the measured window)."""
        self._lateness.clear()

    def lateness(self) -> MsHistogram:
        """Pacer tick lateness in ms since :meth:`reset_lateness`."""
        return self._lateness

    @property
    def audio_frames_ready(self) -> int:
        """Playout frames queued for :meth:`audio`: this many ``anext`` calls will not suspend."""
        return len(self._audio_q)

    @property
    def skipped_frames(self) -> int:
        """Frames the pacer skipped instead of sending (ticks dropped after a stall of more than 200 ms)."""
        return round(self._sent_ms / FRAME_MS) - self._counts.frames_sent


class AudioopSoxrSession(MeasuredSession):
    """The Session with the audioop + soxr audio path (variant ``audioop_soxr``)."""

    __slots__ = ()

    @staticmethod
    def _playout_format(wire: AudioFormat, local: AudioFormat) -> AudioFormat:
        # As pipecat does: convert on arrival, buffer local audio (soxr hands its output back in
        # blocks, so it cannot turn each popped wire frame into exactly one local frame).
        return local

    @staticmethod
    def _make_transcoders(wire: AudioFormat, local: AudioFormat, options: SessionOptions) -> tuple[Any, Any]:
        soxr, audioop = importlib.import_module("soxr"), _import_audioop()
        return _AudioopSoxrUplink(local, wire, soxr, audioop), _AudioopSoxrDownlink(wire, local, soxr, audioop)


# ------------------------------------------------------------------------------------------------
# Calls


@dataclass
class _Counters:
    """What one call did, cumulative; the window is the difference of two snapshots."""

    uplink_sent: int = 0
    uplink_skipped: int = 0
    uplink_silence: int = 0
    downlink_bytes: int = 0
    downlink_messages: int = 0
    played: int = 0
    consumed: int = 0
    queue_dropped: int = 0
    buffer_lost_ms: float = 0.0
    concealed_speech_ms: float = 0.0
    concealed_silence_ms: float = 0.0

    def minus(self, other: _Counters) -> _Counters:
        a, b = asdict(self), asdict(other)
        return _Counters(**{k: a[k] - b[k] for k in a})


class _Call:
    """A connected call of any variant."""

    call_id: str | None = None
    consumed: int = 0
    done: bool = False

    def counters(self) -> _Counters:
        raise NotImplementedError

    def reset_lateness(self) -> None:
        raise NotImplementedError

    def lateness(self) -> MsHistogram:
        raise NotImplementedError

    @property
    def ended_early(self) -> str | None:
        """Why the call ended before the harness ended it, if it did."""
        raise NotImplementedError

    async def end(self) -> None:
        raise NotImplementedError


class _SessionCall(_Call):
    def __init__(self, session: MeasuredSession, phase: int) -> None:
        self.session = session
        self.call_id = session.call_id
        self.phase = phase
        self.fed = 0
        #: Pushes made at connect to queue PREQUEUE_FRAMES frames.
        self.prequeued = 0
        self.started = 0.0
        self.frames: AsyncIterator[bytes] = aiter(session.audio())

    def counters(self) -> _Counters:
        st = self.session.stats()
        jb = st["jitter"]
        return _Counters(
            uplink_sent=st["frames_sent"],
            uplink_skipped=self.session.skipped_frames,
            uplink_silence=st["silence_frames_sent"],
            downlink_bytes=st["bytes_received"],
            downlink_messages=st["binary_messages_received"],
            played=st["frames_played"],
            consumed=self.consumed,
            queue_dropped=st["audio_frames_dropped"],
            buffer_lost_ms=jb["late_dropped_ms"] + jb["duplicate_dropped_ms"] + jb["overflow_dropped_ms"],
            concealed_speech_ms=jb["concealed_speech_ms"],
            concealed_silence_ms=jb["concealed_silence_ms"],
        )

    def reset_lateness(self) -> None:
        self.session.reset_lateness()

    def lateness(self) -> MsHistogram:
        return self.session.lateness()

    @property
    def ended_early(self) -> str | None:
        ended = self.session.ended
        return None if ended is None else f"{type(ended).__name__}: {ended}"

    async def end(self) -> None:
        aclose = getattr(self.frames, "aclose", None)
        if aclose is not None:
            await aclose()
        await self.session.end_call()


class _RawCall(_Call):
    """Variant ``raw``: a pacer and a reader per call, as in a Session, with no audio work at all."""

    def __init__(self, ws: ClientConnection, call_id: str | None, frames: tuple[bytes, ...], phase: int) -> None:
        self.ws = ws
        self.call_id = call_id
        self._frames = frames
        self._next = phase
        self._sent = 0
        self._skipped = 0
        self._bytes = 0
        self._messages = 0
        self._closed: str | None = None
        self._ending = False
        self._lateness = MsHistogram()
        self._pacer = asyncio.create_task(self._pace(), name="raw.pacer")
        self._reader = asyncio.create_task(self._read(), name="raw.reader")

    async def _pace(self) -> None:
        # Session._pace without the jitter-buffer pop and the audio queue.
        loop = asyncio.get_running_loop()
        frames, n = self._frames, len(self._frames)
        start = loop.time()
        tick = 0
        sent_ms = 0.0
        try:
            while True:
                now = loop.time()
                late_s = now - (start + tick * FRAME_MS / 1000)
                if late_s > 0.2:
                    skipped = int(late_s * 1000 // FRAME_MS)
                    tick += skipped
                    if tick * FRAME_MS > sent_ms:
                        self._skipped += round((tick * FRAME_MS - sent_ms) / FRAME_MS)
                        sent_ms = tick * FRAME_MS
                    late_s -= skipped * FRAME_MS / 1000
                self._lateness.add(late_s * 1000)
                elapsed_ms = (now - start) * 1000
                while sent_ms < elapsed_ms + LEAD_MS:
                    await self.ws.send(frames[self._next])
                    self._next = (self._next + 1) % n
                    self._sent += 1
                    sent_ms += FRAME_MS
                tick += 1
                await asyncio.sleep(max(0.0, start + tick * FRAME_MS / 1000 - loop.time()))
        except ConnectionClosed:
            return

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                if isinstance(data, bytes):
                    self._messages += 1
                    self._bytes += len(data)
        except ConnectionClosed:
            pass
        if not self._ending:
            self._closed = f"socket closed: {self.ws.close_code} {self.ws.close_reason}"

    def counters(self) -> _Counters:
        return _Counters(
            uplink_sent=self._sent,
            uplink_skipped=self._skipped,
            downlink_bytes=self._bytes,
            downlink_messages=self._messages,
        )

    def reset_lateness(self) -> None:
        self._lateness.clear()

    def lateness(self) -> MsHistogram:
        return self._lateness

    @property
    def ended_early(self) -> str | None:
        return self._closed

    async def end(self) -> None:
        self._ending = True
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps({"type": "end-call"}))
        self._pacer.cancel()
        await asyncio.gather(self._pacer, return_exceptions=True)
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)


class _GcMonitor:
    """Counts the collector's runs and pauses while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.pauses_ms: list[float] = []
        self.gen2_pauses_ms: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - self._started) * 1000
        generation = info.get("generation", 0)
        self.collections[generation] += 1
        self.pauses_ms.append(pause_ms)
        if generation == 2:
            self.gen2_pauses_ms.append(pause_ms)

    def __enter__(self) -> _GcMonitor:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self)


# ------------------------------------------------------------------------------------------------
# The mock process


class _MockProcess:
    """``python -m benches.load.mock_server`` in a child process; stopped (or killed) by :meth:`stop`."""

    def __init__(self, proc: asyncio.subprocess.Process, base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url

    @classmethod
    async def start(cls, config: LoadConfig) -> _MockProcess:
        max_seconds = config.hard_timeout_s + 30
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benches.load.mock_server",
            "--reply-ms",
            str(config.reply_ms),
            "--pacing",
            config.pacing,
            "--max-seconds",
            str(max_seconds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_PACKAGE_ROOT,
            limit=64 << 20,
        )
        try:
            async with asyncio.timeout(30):
                assert proc.stdout is not None
                while line := await proc.stdout.readline():
                    match = _URL_LINE.search(line.decode())
                    if match:
                        return cls(proc, match.group(1))
            raise RuntimeError("the mock process exited before listening")
        except BaseException:
            await cls(proc, "").stop()
            raise

    def cpu_s(self) -> float | None:
        return _cpu_s(self.proc.pid)

    def rss_kib(self) -> int | None:
        return _rss_kib(self.proc.pid)

    def send(self, command: str) -> None:
        """Send a command without waiting for anything (see :mod:`benches.load.mock_server`)."""
        if self.proc.stdin is not None and self.proc.returncode is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.write(command.encode() + b"\n")

    async def request(self, command: str) -> dict[str, Any] | None:
        """Send ``command`` and return the mock's JSON answer of the same type, or ``None`` without one in 15 s."""
        if self.proc.stdout is None:
            return None
        self.send(command)
        try:
            async with asyncio.timeout(15):
                while line := await self.proc.stdout.readline():
                    if line.startswith(b"{"):
                        answer: dict[str, Any] = json.loads(line)
                        if answer.get("type") == command:
                            return answer
        except (OSError, TimeoutError, ValueError):
            pass
        return None

    async def stop(self) -> None:
        """Ask the mock to stop; terminate it after 10 s and kill it after 3 more."""
        proc = self.proc
        if proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write(b"stop\n")
                proc.stdin.close()
        for signal_it, wait_s in ((None, 10.0), (proc.terminate, 3.0), (proc.kill, 5.0)):
            if proc.returncode is not None:
                return
            if signal_it is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal_it()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await proc.wait()


# ------------------------------------------------------------------------------------------------
# The run


@dataclass
class _Run:
    config: LoadConfig
    mock: _MockProcess
    audio: CallerAudio
    http: httpx.AsyncClient
    calls: list[_Call] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def connect(self, index: int) -> None:
        phase = (index * 7) % len(self.audio.local)
        try:
            if self.config.variant == "raw":
                self.calls.append(await self._connect_raw(phase))
            else:
                self.calls.append(await self._connect_session(phase))
        except (VapiFastError, OSError, TimeoutError, ConnectionClosed, httpx.HTTPError, KeyError, ValueError) as exc:
            self.errors.append(f"connect: {type(exc).__name__}: {exc}")

    async def _connect_session(self, phase: int) -> _Call:
        cls = AudioopSoxrSession if self.config.variant == "audioop_soxr" else MeasuredSession
        session = await cls.create(
            API_KEY,
            assistant_id="load-test",
            base_url=self.mock.base_url,
            wire=WIRE,
            local=LOCAL,
            http=self.http,
        )
        assert isinstance(session, MeasuredSession)
        call = _SessionCall(session, phase)
        try:
            await session.mute_customer()
            call.started = asyncio.get_running_loop().time()
            # Queue PREQUEUE_FRAMES wire frames, however many pushes that takes: soxr hands its output back
            # in blocks of about 100 ms, so ten 20 ms pushes may give only five frames.
            while session.stats()["audio_frames_pending"] < PREQUEUE_FRAMES:
                await session.send_audio(self.audio.local[(phase + call.fed) % len(self.audio.local)])
                call.fed += 1
            call.prequeued = call.fed
            await anext(call.frames)  # starts the audio() consumer: from now on every playout frame is queued
            call.consumed += 1
        except BaseException:
            await session.close()
            raise
        return call

    async def _connect_raw(self, phase: int) -> _Call:
        body = {"assistantId": "load-test", "transport": {"provider": "vapi.websocket", "audioFormat": WIRE.to_vapi()}}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        answer = (await self.http.post(f"{self.mock.base_url}/call", json=body, headers=headers)).json()
        options = SessionOptions()
        ws = await ws_connect(
            answer["transport"]["websocketCallUrl"],
            additional_headers=headers,
            compression=None,
            open_timeout=options.open_timeout_s,
            close_timeout=options.close_timeout_s,
            ping_interval=options.ping_interval_s,
            ping_timeout=options.ping_timeout_s,
            max_size=options.max_message_bytes,
        )
        await ws.send(json.dumps({"type": "control", "control": "mute-customer"}))
        return _RawCall(ws, answer.get("id"), self.audio.wire, phase)

    async def shared_io(self) -> None:
        """One task for every call. Each 20 ms it feeds every call the caller audio due by now (20 ms a frame since
        the call started, after the 200 ms queued at connect: a late pass catches up, so the queue never runs dry
        because of the harness) and drains every playout frame the call has ready, without ever waiting on one call
        (so no call's pacer phase can hold up the others)."""
        loop = asyncio.get_running_loop()
        local, n = self.audio.local, len(self.audio.local)
        start = loop.time()
        tick = 0
        while True:
            now = loop.time()
            for call in list(self.calls):
                if call.done or not isinstance(call, _SessionCall):
                    continue
                session = call.session
                try:
                    due = call.prequeued + int((now - call.started) * 1000 / FRAME_MS)
                    while call.fed < due:
                        await session.send_audio(local[(call.phase + call.fed) % n])
                        call.fed += 1
                    for _ in range(session.audio_frames_ready):
                        await anext(call.frames)  # a frame is queued: this does not suspend
                        call.consumed += 1
                except (StopAsyncIteration, CallEnded, ConnectionLost):
                    call.done = True
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * FRAME_MS / 1000 - loop.time()))

    async def bridge(self, call: _SessionCall) -> None:
        """``--io per-call``: the classic bridge loop, clocked by the playout frames."""
        local, n = self.audio.local, len(self.audio.local)
        try:
            async for _frame in call.frames:
                call.consumed += 1
                await call.session.send_audio(local[(call.phase + call.fed) % n])
                call.fed += 1
        except (CallEnded, ConnectionLost):
            pass
        call.done = True


@dataclass
class _Snapshot:
    wall: float
    cpu: float
    mock_cpu: float | None
    machine_busy: float | None
    others: dict[int, float]
    rss_kib: int | None
    mock_rss_kib: int | None
    counters: list[_Counters]


def _snapshot(calls: Sequence[_Call], mock: _MockProcess, *, cpu_first: bool) -> _Snapshot:
    """Everything at one instant (no await inside). The CPU clock is read outside the snapshot's own work."""
    if cpu_first:
        wall, cpu, mock_cpu, busy = time.monotonic(), time.process_time(), mock.cpu_s(), _machine_busy_s()
        others = others_cpu_s([mock.proc.pid])
    counters = [call.counters() for call in calls]
    if not cpu_first:
        others = others_cpu_s([mock.proc.pid])
        wall, cpu, mock_cpu, busy = time.monotonic(), time.process_time(), mock.cpu_s(), _machine_busy_s()
    return _Snapshot(wall, cpu, mock_cpu, busy, others, _rss_kib(), mock.rss_kib(), counters)


async def _drive(config: LoadConfig, mock: _MockProcess) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    audio = CallerAudio.build()
    if config.variant == "audioop_soxr":  # imported before the baseline RSS, as an application would
        importlib.import_module("soxr")
        _import_audioop()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=SessionOptions().http_timeout_s, limits=limits) as http:
        run = _Run(config, mock, audio, http)
        gc.collect()
        rss_before = _rss_kib()
        io_tasks: list[asyncio.Task[None]] = []
        if config.variant != "raw" and config.io == "shared":
            io_tasks.append(asyncio.create_task(run.shared_io(), name="load.io"))
        try:
            ramp_start = loop.time()
            connects: list[asyncio.Task[None]] = []
            for i in range(config.calls):
                await asyncio.sleep(max(0.0, ramp_start + i * config.ramp_s / config.calls - loop.time()))
                connects.append(asyncio.create_task(run.connect(i)))
            await asyncio.gather(*connects)
            ramp_s = loop.time() - ramp_start
            if config.variant != "raw" and config.io == "per-call":
                io_tasks += [asyncio.create_task(run.bridge(c)) for c in run.calls if isinstance(c, _SessionCall)]
            await asyncio.sleep(config.settle_s)

            for call in run.calls:
                call.reset_lateness()
            first = _snapshot(run.calls, mock, cpu_first=False)
            mock.send("mark")
            with _GcMonitor() as gc_monitor:
                await asyncio.sleep(config.seconds)
            last = _snapshot(run.calls, mock, cpu_first=True)
            mock_lag = await mock.request("lag")
            lateness = MsHistogram()
            for call in run.calls:
                lateness.update(call.lateness())
            ended_early = [reason for call in run.calls if (reason := call.ended_early) is not None]
        finally:
            for task in io_tasks:
                task.cancel()
            await asyncio.gather(*io_tasks, return_exceptions=True)
            closing = loop.time()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(20 + 0.02 * config.calls):
                    results = await asyncio.gather(*(call.end() for call in run.calls), return_exceptions=True)
                    run.errors += [f"end: {type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
            close_s = loop.time() - closing
        totals = [call.counters() for call in run.calls]
    mock_stats = await mock.request("stats")
    return _results(
        config,
        run,
        first,
        last,
        lateness,
        ended_early,
        totals,
        mock_stats,
        mock_lag,
        gc_monitor,
        rss_before,
        ramp_s,
        close_s,
    )


def _results(
    config: LoadConfig,
    run: _Run,
    first: _Snapshot,
    last: _Snapshot,
    lateness: MsHistogram,
    ended_early: list[str],
    totals: list[_Counters],
    mock_stats: dict[str, Any] | None,
    mock_lag: dict[str, Any] | None,
    gc_monitor: _GcMonitor,
    rss_before: int | None,
    ramp_s: float,
    close_s: float,
) -> dict[str, Any]:
    n = len(run.calls)
    wall = last.wall - first.wall
    window = [b.minus(a) for a, b in zip(first.counters, last.counters, strict=True)]

    def total(name: str) -> float:
        return float(sum(getattr(c, name) for c in window))

    cpu = last.cpu - first.cpu
    cpu_fraction = cpu / wall
    due = n * wall * 1000 / FRAME_MS
    # Uplink frames that reached the socket but not the mock (the mock counts every frame it read).
    undelivered = 0
    mock_calls = (mock_stats or {}).get("calls", {})
    for call, tot in zip(run.calls, totals, strict=True):
        seen = mock_calls.get(call.call_id or "", {}).get("caller_frames")
        if seen is not None:
            undelivered += max(0, tot.uplink_sent - seen)
    uplink_lost = int(total("uplink_skipped") + total("uplink_silence")) + undelivered
    if config.variant == "raw":
        downlink_lost = 0
    else:
        downlink_lost = round(
            total("uplink_skipped")  # a skipped tick skips the playout pop too
            + total("queue_dropped")
            + total("buffer_lost_ms") / FRAME_MS
        )
    rss_after = first.rss_kib
    mock_cpu = (
        (last.mock_cpu - first.mock_cpu) / wall if last.mock_cpu is not None and first.mock_cpu is not None else None
    )

    busy = (
        (last.machine_busy - first.machine_busy) / wall
        if last.machine_busy is not None and first.machine_busy is not None
        else None
    )
    others = others_cpu_delta(first.others, last.others) / wall

    def per_call_kib(rss: int | None) -> float | None:
        return round((rss - rss_before) / n, 1) if rss is not None and rss_before is not None and n else None

    return {
        "variant": config.variant,
        "calls": config.calls,
        "connected": n,
        "io": config.io,
        "pacing": config.pacing,
        "window_s": round(wall, 3),
        "ramp_s": round(ramp_s, 3),
        "close_s": round(close_s, 3),
        "client_cpu_pct": round(100 * cpu_fraction, 1),
        "cpu_ms_per_call_s": round(1000 * cpu_fraction / n, 4) if n else None,
        "calls_per_core": round(n / cpu_fraction, 1) if cpu_fraction > 0 else None,
        "lateness_ms_p50": _round(lateness.quantile(0.5)),
        "lateness_ms_p99": _round(lateness.quantile(0.99)),
        "lateness_ms_p999": _round(lateness.quantile(0.999)),
        "lateness_ms_max": _round(lateness.max_ms),
        "lateness_samples": lateness.count,
        "lost_frames": uplink_lost + downlink_lost,
        "uplink_lost": uplink_lost,
        "uplink_skipped": int(total("uplink_skipped")),
        "uplink_undelivered": undelivered,
        "downlink_lost": downlink_lost,
        "downlink_queue_dropped": int(total("queue_dropped")),
        "downlink_buffer_lost_frames": round(total("buffer_lost_ms") / FRAME_MS, 1),
        "downlink_concealed_speech_frames": round(total("concealed_speech_ms") / FRAME_MS, 1),
        "downlink_concealed_speech_pct": (
            round(100 * total("concealed_speech_ms") / FRAME_MS / total("played"), 4) if total("played") else None
        ),
        "downlink_concealed_silence_frames": round(total("concealed_silence_ms") / FRAME_MS, 1),
        "uplink_frames_due": round(due),
        "uplink_frames_sent": int(total("uplink_sent")),
        "uplink_caller_audio_gaps": int(total("uplink_silence")),
        "downlink_frames_played": int(total("played")),
        "downlink_frames_consumed": int(total("consumed")),
        "downlink_bytes_per_call_s": round(total("downlink_bytes") / n / wall, 1) if n else None,
        "downlink_messages_per_call_s": round(total("downlink_messages") / n / wall, 2) if n else None,
        "rss_before_kib": rss_before,
        "rss_after_ramp_kib": rss_after,
        "rss_end_kib": last.rss_kib,
        "rss_per_call_kib": per_call_kib(rss_after),
        "rss_per_call_end_kib": per_call_kib(last.rss_kib),
        "mock_cpu_pct": round(100 * mock_cpu, 1) if mock_cpu is not None else None,
        "mock_rss_kib": last.mock_rss_kib,
        "mock_lag_ms_p50": (mock_lag or {}).get("lag_ms_p50"),
        "mock_lag_ms_p99": (mock_lag or {}).get("lag_ms_p99"),
        "other_processes_cpu_pct": round(100 * others, 1),
        "machine_busy_pct": round(100 * busy, 1) if busy is not None else None,
        "gc_collections": gc_monitor.collections,
        "gc_pause_ms_total": round(sum(gc_monitor.pauses_ms), 1),
        "gc_pause_ms_max": round(max(gc_monitor.pauses_ms, default=0.0), 2),
        "gc_gen2_pause_ms_max": round(max(gc_monitor.gen2_pauses_ms, default=0.0), 2),
        "mock_calls_seen": len(mock_calls),
        "mock_calls_ended": sum(1 for c in mock_calls.values() if c.get("status") == "ended"),
        "mock_ended_reasons": dict(collections.Counter(str(c.get("ended_reason")) for c in mock_calls.values())),
        "calls_ended_early": len(ended_early),
        "errors": (run.errors + ended_early)[:20],
        "error_count": len(run.errors) + len(ended_early),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _run(config: LoadConfig) -> dict[str, Any]:
    mock = await _MockProcess.start(config)
    try:
        async with asyncio.timeout(config.hard_timeout_s):
            return await _drive(config, mock)
    finally:
        await mock.stop()


def run_load(config: LoadConfig) -> dict[str, Any]:
    """Run one configuration in a new event loop and return its measurements (see the module docstring).

    Raises:
        TimeoutError: the run took longer than ``config.hard_timeout_s`` (the mock is stopped all the same).
    """
    return asyncio.run(_run(config))


def format_result(r: dict[str, Any]) -> str:
    """A few lines for a human."""
    return (
        f"{r['variant']} x{r['connected']}/{r['calls']} ({r['io']} io, {r['pacing']} mock) over {r['window_s']} s: "
        f"client CPU {r['client_cpu_pct']}% = {r['cpu_ms_per_call_s']} ms per call-second, "
        f"{r['calls_per_core']} calls/core\n"
        f"  lateness p50 {r['lateness_ms_p50']} ms, p99 {r['lateness_ms_p99']} ms, max {r['lateness_ms_max']} ms; "
        f"lost frames {r['lost_frames']} (uplink {r['uplink_lost']}, downlink {r['downlink_lost']}); "
        f"uplink {r['uplink_frames_sent']}/{r['uplink_frames_due']} frames, "
        f"downlink {r['downlink_bytes_per_call_s']} B/call/s\n"
        f"  RSS per call {r['rss_per_call_kib']} KiB after ramp, {r['rss_per_call_end_kib']} KiB at the end; "
        f"mock CPU {r['mock_cpu_pct']}% (loop lag p99 {r['mock_lag_ms_p99']} ms), mock RSS {r['mock_rss_kib']} KiB; "
        f"other processes {r['other_processes_cpu_pct']}%; errors {r['error_count']}\n"
        f"  GC: {r['gc_collections']} collections (gen 0/1/2), pauses max {r['gc_pause_ms_max']} ms, "
        f"gen 2 max {r['gc_gen2_pause_ms_max']} ms, total {r['gc_pause_ms_total']} ms"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: one run, a summary on stdout, optionally the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benches.load.harness", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window (after ramp and settle)")
    parser.add_argument("--variant", choices=VARIANTS, default="vapi_fast")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which the calls are started")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between the ramp and the window")
    parser.add_argument("--pacing", choices=("bursty", "realtime"), default="bursty", help="the mock's downlink")
    parser.add_argument("--io", choices=IO_MODES, default="shared", help="application tasks: one for all or per call")
    parser.add_argument("--timeout", type=float, default=None, help="hard limit on the run, seconds")
    parser.add_argument("--json", type=Path, default=None, help="write the measurements here")
    args = parser.parse_args(argv)
    config = LoadConfig(
        variant=args.variant,
        calls=args.calls,
        seconds=args.seconds,
        ramp_s=args.ramp,
        settle_s=args.settle,
        pacing=args.pacing,
        io=args.io,
        timeout_s=args.timeout,
    )
    result = run_load(config)
    print(format_result(result), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
