"""The README's commands run: every shell block the docs mark runnable is executed as written.

A block is runnable when the line directly before its opening ```bash fence is the HTML comment
``<!-- runnable -->`` (invisible on GitHub), in README.md or any docs/**/*.md. Each block runs as
one bash script (``set -euo pipefail``) in a fresh empty temporary folder, with the bin folder of
the interpreter running the tests first on PATH (so ``litedepth`` is this environment's entry
point). A block may use only files it makes itself, and should take at most about a minute on a
2-core CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- runnable -->"
TIMEOUT_S = 300  # a block should take ~60 s; this only stops a hung one
TAIL_LINES = 40


def doc_files() -> list[Path]:
    files = [ROOT / "README.md"]
    docs = ROOT / "docs"
    if docs.is_dir():
        files += sorted(docs.rglob("*.md"))
    return [f for f in files if f.is_file()]


def runnable_blocks(path: Path) -> list[tuple[int, str]]:
    """(line of the opening fence, 1-based; the block's text, dedented) for each marked block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        fence = lines[i + 1] if i + 1 < len(lines) else ""
        if fence.strip() != "```bash":
            continue  # reported by test_every_marker_precedes_a_bash_block
        indent = fence[: len(fence) - len(fence.lstrip())]
        body = []
        for j in range(i + 2, len(lines)):
            if lines[j].strip() == "```":
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
        else:
            raise AssertionError(f"{path.relative_to(ROOT)}:{i + 2}: runnable block has no closing ``` fence")
        blocks.append((i + 2, textwrap.dedent("\n".join(body)) + "\n"))
    return blocks


def _collect():
    params = []
    for path in doc_files():
        rel = path.relative_to(ROOT).as_posix()
        for line, script in runnable_blocks(path):
            params.append(pytest.param(rel, line, script, id=f"{rel}:{line}"))
    return params


BLOCKS = _collect()


def test_readme_has_a_runnable_block():
    """The mechanism cannot silently test nothing: README.md marks at least one block."""
    assert runnable_blocks(ROOT / "README.md"), f"README.md has no {MARKER} line before a ```bash fence"


def test_every_marker_precedes_a_bash_block():
    """A marker anywhere else (a blank line between, a ```sh or ```python fence) would be skipped silently."""
    misplaced = []
    for path in doc_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.strip() == MARKER and (i + 1 >= len(lines) or lines[i + 1].strip() != "```bash"):
                misplaced.append(f"{path.relative_to(ROOT).as_posix()}:{i + 1}")
    assert not misplaced, f"{MARKER} not directly followed by a ```bash fence at: {', '.join(misplaced)}"


def _tail(text: str, n: int = TAIL_LINES) -> str:
    # progress bars rewrite their line with \r: keep each line's last state
    lines = [ln.rsplit("\r", 1)[-1] for ln in text.replace("\r\n", "\n").splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    return "\n".join(lines[-n:])


@pytest.mark.parametrize("doc, line, script", BLOCKS)
def test_runnable_block(doc, line, script, tmp_path):
    bindir = Path(sys.executable).parent  # not resolved: a venv's python is a link into the base install
    assert (bindir / "litedepth").exists(), (
        f"no litedepth entry point beside {sys.executable}: install the package (pip install -e .) in this environment"
    )
    work = tmp_path / "work"
    work.mkdir()
    script_file = tmp_path / "block.sh"
    # line 2 of the script names the failing command by its line in the doc (the block starts at line 3)
    preamble = f"set -euo pipefail\ntrap 'echo \"{doc}:$(({line} + LINENO - 2)): exit $?: $BASH_COMMAND\" >&2' ERR\n"
    script_file.write_text(preamble + script, encoding="utf-8")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")  # a shared 2-core machine: see tests/conftest.py
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", str(script_file)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(
            f"{doc}:{line}: runnable block did not finish in {TIMEOUT_S} s\nstderr (tail):\n{_tail(out)}", pytrace=False
        )
    elapsed = time.perf_counter() - start
    print(f"{doc}:{line}: {elapsed:.1f} s")
    if proc.returncode != 0:
        pytest.fail(
            f"{doc}:{line}: runnable block failed with exit code {proc.returncode} after {elapsed:.1f} s\n"
            f"--- block ---\n{script}"
            f"--- stdout (tail) ---\n{_tail(proc.stdout, 10)}\n"
            f"--- stderr (tail) ---\n{_tail(proc.stderr)}",
            pytrace=False,
        )
