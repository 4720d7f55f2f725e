"""The README's Python examples run as written (the drop-in example needs a real account and is only
compiled)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_readme_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = compile(BLOCKS[index], f"README.md example {index + 1}", "exec")
    if "your-private-key" in BLOCKS[index]:
        return  # needs a Vapi account: compiling it is what can be checked here
    exec(code, {"__name__": "readme_example"})
