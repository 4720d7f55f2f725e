"""Starting and closing the mock: nothing left behind; run_mock for the command line."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys

import pytest
from mockutil import MULAW, create_call, is_msg, open_call, recv_until, run, scaled, socket_fds
from vapi_fast.mock import MockBehaviour, MockVapi, run_mock
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus


async def refused(url: str) -> bool:
    host, _, port = url.split("://")[1].partition(":")
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


def test_close_mid_call_ends_calls_and_leaves_nothing_behind() -> None:
    async def main() -> None:
        before = socket_fds()
        mock = MockVapi(behaviour=MockBehaviour(reply_ms=3000, setup_spike_ms=(0, 0)))
        await mock.start()
        base_url, ws_url = mock.base_url, mock.ws_url
        queued = await create_call(mock, MULAW)  # one call nobody connects to
        async with open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, lambda item: isinstance(item, bytes))
            closing = asyncio.create_task(mock.close())
            frames = await recv_until(ws, is_msg("status-update", status="ended"))
            assert frames.last()["endedReason"] == "worker-shutdown"
            with pytest.raises(ConnectionClosedOK):
                await recv_until(ws, lambda _: False)
            assert ws.close_code == 1001
            await closing
        await mock.close()  # idempotent
        assert mock.calls[call_id].ended_reason == "worker-shutdown"
        assert mock.calls[call_id].ended.is_set()
        assert mock.calls[queued["id"]].ended_reason == "worker-shutdown"
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert await refused(base_url) and await refused(ws_url)
        if before is not None:
            assert socket_fds() == before

    run(main())


def test_async_with_start_twice_and_close_without_start() -> None:
    async def main() -> None:
        await MockVapi().close()
        async with MockVapi() as mock:
            with pytest.raises(RuntimeError):
                await mock.start()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", mock.base_url)
            assert re.fullmatch(r"ws://127\.0\.0\.1:\d+", mock.ws_url)
        with pytest.raises(RuntimeError):
            await mock.start()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(main())


def test_a_port_in_use_fails_start_cleanly() -> None:
    async def main() -> None:
        before = socket_fds()
        async with MockVapi() as first:
            port = int(first.base_url.rsplit(":", 1)[1])
            second = MockVapi(port=port)
            with pytest.raises(OSError):
                await second.start()
        if before is not None:
            assert socket_fds() == before

    run(main())


def test_run_mock_prints_its_urls_and_runs_until_cancelled() -> None:
    async def main() -> None:
        out = io.StringIO()
        ready: asyncio.Future[MockVapi] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_mock(0, api_key="mock-key", out=out, on_ready=ready.set_result))
        mock = await ready
        first_line = out.getvalue().splitlines()[0]
        assert first_line == f"Mock Vapi listening: {mock.base_url} (POST /call), {mock.ws_url}"
        assert "Bearer mock-key" in out.getvalue()
        call = await create_call(mock, MULAW)
        assert call["status"] == "queued"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await refused(mock.base_url)

    run(main())


def test_run_mock_does_not_print_a_custom_key() -> None:
    async def main() -> None:
        out = io.StringIO()
        ready: asyncio.Future[MockVapi] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_mock(api_key="sk-secret-123", out=out, on_ready=ready.set_result))
        await ready
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert "sk-secret-123" not in out.getvalue()

    run(main())


@pytest.mark.parametrize(
    "fields",
    [
        {"pacing": "slow"},
        {"first_message_mode": "never"},
        {"setup_spike_ms": (500, 100)},
        {"reply_ms": -1},
        {"max_duration_ms": 0},
    ],
)
def test_bad_behaviour_is_rejected(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MockBehaviour(**fields)  # type: ignore[arg-type]


def test_ending_a_call_before_anyone_connects() -> None:
    async def main() -> None:
        async with MockVapi() as mock:
            created = await create_call(mock, MULAW)
            call = mock.calls[created["id"]]
            await call.end("assistant-ended-call")
            assert call.status == "ended" and call.ended_reason == "assistant-ended-call"
            with pytest.raises(InvalidStatus) as info:
                async with connect(created["transport"]["websocketCallUrl"]):
                    pass
            assert info.value.response.status_code == 409

    run(main())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child process")
def test_run_serves_until_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    code = "import sys; from vapi_fast.mock import run; sys.exit(run(0))"
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        try:
            line = proc.stdout.readline()
            assert re.fullmatch(
                r"Mock Vapi listening: http://127\.0\.0\.1:\d+ \(POST /call\), ws://127\.0\.0\.1:\d+\n", line
            )
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=scaled(3))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
