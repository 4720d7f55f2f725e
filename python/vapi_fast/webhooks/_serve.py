"""Running a router under uvicorn: ``vapi-fast serve module:router`` (the optional ``server`` extra)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import VapiFastError
from ._asgi import ASGIApp

if TYPE_CHECKING:
    import uvicorn

__all__ = ["build_server", "load_app", "serve"]


def load_app(target: str) -> ASGIApp:
    """Import the app named by ``target``: ``package.module:attribute`` or ``path/to/file.py:attribute``.

    The attribute may be dotted (``module:api.router``). Any ASGI callable works; usually a
    :class:`~vapi_fast.webhooks.Router`.

    Raises:
        VapiFastError: ``target`` has no ``:``, the module or file cannot be imported, or the
            attribute is missing or not callable.
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise VapiFastError(f"app {target!r}: expected module:attribute or path/to/file.py:attribute")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None or not path.is_file():
                raise VapiFastError(f"app {target!r}: no file {module_name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault(path.stem, module)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise VapiFastError(f"app {target!r}: cannot import {module_name} ({exc})") from exc
    app: Any = module
    for part in attribute.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise VapiFastError(f"app {target!r}: {module_name} has no attribute {attribute}") from None
    if not callable(app):
        raise VapiFastError(f"app {target!r}: {attribute} is not an ASGI app")
    return app  # type: ignore[no-any-return]


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise VapiFastError("serving needs uvicorn: pip install 'vapi-fast[server]'") from None
    return uvicorn


def build_server(
    app: str | ASGIApp, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info", **config: Any
) -> uvicorn.Server:
    """A ``uvicorn.Server`` for ``app`` (not started), configured for webhooks.

    HTTP/1.1 through h11 or httptools, lifespan on (so background handlers are drained at shutdown),
    no WebSocket support, the access log off (request lines would be logged for every event).

    Args:
        app: The app, or ``module:attribute`` to import (see :func:`load_app`).
        host: Address to bind.
        port: Port to bind (0 for any free one).
        log_level: uvicorn's log level.
        config: More ``uvicorn.Config`` arguments (they override the above).

    Raises:
        VapiFastError: uvicorn is not installed, or ``app`` cannot be loaded.
    """
    uvicorn = _uvicorn()
    asgi = load_app(app) if isinstance(app, str) else app
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "lifespan": "on",
        "ws": "none",
        "access_log": False,
        "timeout_graceful_shutdown": 15,
    }
    options.update(config)
    return uvicorn.Server(uvicorn.Config(asgi, **options))  # type: ignore[no-any-return]


def serve(app: str | ASGIApp, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve ``app`` with uvicorn until Ctrl+C (what ``vapi-fast serve`` runs).

    One process and one event loop; run more processes behind a load balancer to scale (the router
    keeps no state that needs sharing, except the optional idempotency cache, which is per process).
    uvicorn logs the address it listens on (``port=0`` picks a free port).

    Args:
        app: The app, or ``module:attribute`` / ``path/to/file.py:attribute``.
        host: Address to bind (``0.0.0.0`` to accept connections from other machines).
        port: Port to bind.
        log_level: uvicorn's log level.

    Raises:
        VapiFastError: uvicorn is not installed, ``app`` cannot be loaded, or the server could not
            start (the address is taken, or the app's lifespan start-up failed; uvicorn logs why).
    """
    server = build_server(app, host=host, port=port, log_level=log_level)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl+C it handled, after its graceful shutdown: the normal way out.
        return
    except SystemExit as exc:
        # uvicorn exits with status 1 when it cannot bind or the lifespan start-up fails.
        raise VapiFastError(f"the server could not start on {host}:{port} (see the log above)") from exc
