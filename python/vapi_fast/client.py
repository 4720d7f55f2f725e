"""A drop-in for Vapi's Python client (``vapi_python.Vapi``), over the WebSocket transport.

``vapi_python`` joins calls over WebRTC and needs daily-python and pyaudio. This class has the same
shape, synchronous and blocking like the original, but runs a :class:`~vapi_fast.session.Session` on a
background thread: switching is one import line::

    from vapi_fast import Vapi          # was: from vapi_python import Vapi

    vapi = Vapi(api_key="your-private-key")
    vapi.start(assistant_id="your-assistant-id")
    vapi.say("Hello!")
    vapi.stop()

Audio goes through the microphone and speaker with the optional ``sounddevice`` extra
(``pip install 'vapi-fast[sounddevice]'``), or through plain callables for headless use
(:class:`CallbackAudio`), or nowhere (:class:`NullAudio`: silence up, audio down discarded).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Protocol

from .audio import AudioFormat
from .errors import VapiFastError
from .protocol import AddMessage, ControlMessage, Message, Say, parse_control
from .session import DEFAULT_BASE_URL, Session, SessionOptions

__all__ = ["AudioDevice", "CallbackAudio", "NullAudio", "SoundDeviceAudio", "Vapi"]

logger = logging.getLogger(__name__)


class AudioDevice(Protocol):
    """Where a :class:`Vapi` call's audio comes from and goes to.

    ``open`` is called on the session's thread with the local format and a function to hand caller
    audio to (any size, from any thread); ``play`` gets each 20 ms frame of assistant audio;
    ``close`` stops the device.
    """

    def open(self, fmt: AudioFormat, send: Callable[[bytes], None]) -> None: ...

    def play(self, frame: bytes) -> None: ...

    def close(self) -> None: ...


class NullAudio:
    """No device: the session sends silence and discards the assistant's audio."""

    def open(self, fmt: AudioFormat, send: Callable[[bytes], None]) -> None:
        """Nothing to open."""

    def play(self, frame: bytes) -> None:
        """Discard the frame."""

    def close(self) -> None:
        """Nothing to close."""


class CallbackAudio:
    """Headless audio through callables.

    Args:
        on_audio: Called with every 20 ms frame of assistant audio (local format).
    Use :meth:`Vapi.send_audio` to send caller audio.
    """

    def __init__(self, on_audio: Callable[[bytes], None] | None = None) -> None:
        self._on_audio = on_audio

    def open(self, fmt: AudioFormat, send: Callable[[bytes], None]) -> None:
        """Nothing to open: caller audio comes through :meth:`Vapi.send_audio`."""

    def play(self, frame: bytes) -> None:
        """Hand the frame to ``on_audio``."""
        if self._on_audio is not None:
            self._on_audio(frame)

    def close(self) -> None:
        """Nothing to close."""


class SoundDeviceAudio:
    """The default microphone and speaker, through the optional ``sounddevice`` package.

    Raises:
        ImportError: ``sounddevice`` is not installed (``pip install 'vapi-fast[sounddevice]'``).
    """

    def __init__(self) -> None:
        import sounddevice  # noqa: F401  (fail early, with the extra's name in the message below)

        self._streams: list[Any] = []

    def open(self, fmt: AudioFormat, send: Callable[[bytes], None]) -> None:
        """Start the input and output streams at the local format's rate and channels."""
        import sounddevice

        frame_samples = fmt.sample_rate // 50

        def on_input(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            send(bytes(indata))

        mic = sounddevice.RawInputStream(
            samplerate=fmt.sample_rate,
            channels=fmt.channels,
            dtype="int16",
            blocksize=frame_samples,
            callback=on_input,
        )
        speaker = sounddevice.RawOutputStream(
            samplerate=fmt.sample_rate, channels=fmt.channels, dtype="int16", blocksize=frame_samples
        )
        mic.start()
        speaker.start()
        self._streams = [mic, speaker]

    def play(self, frame: bytes) -> None:
        """Write the frame to the speaker."""
        if len(self._streams) == 2:
            self._streams[1].write(frame)

    def close(self) -> None:
        """Stop both streams."""
        for stream in self._streams:
            stream.stop()
            stream.close()
        self._streams = []


def _default_audio() -> AudioDevice:
    try:
        return SoundDeviceAudio()
    except ImportError as exc:
        raise VapiFastError(
            "no audio device: install the sounddevice extra (pip install 'vapi-fast[sounddevice]') or pass "
            "audio=CallbackAudio(...) / audio=NullAudio() for headless use"
        ) from exc


class Vapi:
    """Vapi's Python client interface (``vapi_python.Vapi``) on vapi_fast's WebSocket session.

    Args:
        api_key: Your private API key.
        api_url: Vapi's API (or a :mod:`vapi_fast.mock` server's ``base_url``).
        audio: The audio device; by default the microphone and speaker (``sounddevice`` extra).
        local: The audio format of the device side (PCM 16 kHz mono by default).
        wire: The audio format on Vapi's socket (PCM 16 kHz by default; ``AudioFormat("mulaw", 8000)``
            halves the bandwidth).
        on_message: Called (on the session's thread) with every typed message from Vapi.
        options: Session tuning.
    """

    def __init__(
        self,
        *,
        api_key: str,
        api_url: str = DEFAULT_BASE_URL,
        audio: AudioDevice | None = None,
        local: AudioFormat | None = None,
        wire: AudioFormat | None = None,
        on_message: Callable[[Message], None] | None = None,
        options: SessionOptions | None = None,
    ) -> None:
        self.api_key = api_key
        self.api_url = api_url
        self._audio = audio
        self._local = local or AudioFormat("pcm_s16le", 16000)
        self._wire = wire or AudioFormat("pcm_s16le", 16000)
        self._on_message = on_message
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: Session | None = None
        self._device: AudioDevice | None = None
        self._player: asyncio.Task[None] | None = None

    @property
    def session(self) -> Session | None:
        """The running session (for stats and advanced use), or ``None``."""
        return self._session

    @property
    def call(self) -> dict[str, Any] | None:
        """The call object of the running call, or ``None``."""
        return self._session.call if self._session else None

    def start(
        self,
        *,
        assistant_id: str | None = None,
        assistant: Mapping[str, Any] | None = None,
        assistant_overrides: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a call and join it; returns the call object. Blocks until the socket is open.

        Raises:
            VapiFastError: A call is already running, Vapi refused, or no audio device is available.
        """
        if self._thread is not None:
            raise VapiFastError("a call is already running: stop() it first")
        device = self._audio if self._audio is not None else _default_audio()
        ready: Future[Session] = Future()
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def begin() -> Session:
            session = await Session.create(
                self.api_key,
                assistant_id=assistant_id,
                assistant=assistant,
                assistant_overrides=assistant_overrides,
                wire=self._wire,
                local=self._local,
                base_url=self.api_url,
                options=self._options,
            )
            if self._on_message is not None:
                callback = self._on_message
                session.on("*", lambda message: callback(message))

            def send(data: bytes) -> None:
                # Called from the device's thread: hand over to the loop.
                loop.call_soon_threadsafe(lambda: asyncio.ensure_future(session.send_audio(data)))

            device.open(self._local, send)
            self._player = asyncio.ensure_future(self._play(session, device))
            return session

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                session = loop.run_until_complete(begin())
            except BaseException as exc:
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(session)
            loop.run_forever()
            loop.close()

        self._device = device
        self._thread = threading.Thread(target=run, name="vapi_fast.Vapi", daemon=True)
        self._thread.start()
        try:
            self._session = ready.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            self._loop = None
            raise
        call = self._session.call or {}
        logger.info("joined call %s", call.get("id"))
        return call

    async def _play(self, session: Session, device: AudioDevice) -> None:
        async for frame in session.audio():
            device.play(frame)

    def stop(self) -> None:
        """End the call (``end-call``), close the socket and the audio device; waits for the thread."""
        loop, thread, session = self._loop, self._thread, self._session
        if loop is None or thread is None or session is None:
            return

        async def end() -> None:
            await session.close()
            if self._player is not None:
                self._player.cancel()
                await asyncio.gather(self._player, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(end(), loop).result()
        finally:
            if self._device is not None:
                self._device.close()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            self._loop = self._thread = self._session = self._device = None
            self._player = None

    def _run(self, coro: Any) -> None:
        if self._loop is None or self._session is None:
            raise VapiFastError("no call is running: start() one first")
        asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def send(self, message: ControlMessage | Mapping[str, Any]) -> None:
        """Send a control message: a :mod:`vapi_fast.protocol` object or its wire dict
        (``{"type": "add-message", "message": {...}}``)."""
        if not isinstance(message, ControlMessage):
            message = parse_control(dict(message))
        session = self._session
        if session is None:
            raise VapiFastError("no call is running: start() one first")
        self._run(session.send(message))

    def add_message(self, role: str, content: str) -> None:
        """Add a message to the conversation."""
        self.send(AddMessage(role, content))

    def say(self, message: str, end_call_after_spoken: bool = False) -> None:
        """Make the assistant say ``message``."""
        self.send(Say(message, end_call_after_spoken=end_call_after_spoken or None))

    def send_audio(self, data: bytes) -> None:
        """Send caller audio in the local format (for headless use with :class:`CallbackAudio`)."""
        session = self._session
        if session is None:
            raise VapiFastError("no call is running: start() one first")
        self._run(session.send_audio(data))
