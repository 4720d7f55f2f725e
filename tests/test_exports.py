"""The public names: every submodule's __all__ is importable and re-exported at the top."""

from __future__ import annotations

import vapi_fast
from vapi_fast import audio, errors, protocol, session


def test_top_level_reexports_the_submodules() -> None:
    for module in (audio, errors):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
            assert getattr(vapi_fast, name) is getattr(module, name), name
    for name in vapi_fast.__all__:
        assert hasattr(vapi_fast, name), name
    for module in (protocol, session):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
    assert vapi_fast.ProtocolError is protocol.ProtocolError
    assert vapi_fast.Session is session.Session


def test_version_comes_from_the_native_module() -> None:
    assert vapi_fast.__version__ == vapi_fast._native.__version__
    assert vapi_fast.__version__.count(".") == 2
