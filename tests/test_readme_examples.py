"""The README's examples work as written: every ```sh block marked `<!-- run -->` runs, in order, with bash
(`set -euo pipefail`) in a fresh folder whose SQLite `pipeline.db` a live `pipeline serve` is serving — what a
newcomer has after the README's first command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from server_process import serve

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = "<!-- run -->"
VENV = Path(sys.prefix)


def run_blocks(markdown: str) -> list[str]:
    """The ```sh blocks that directly follow a `<!-- run -->` line, in document order."""
    return re.findall(r"^<!-- run -->\n```sh\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


def test_run_blocks_are_found_only_after_the_marker() -> None:
    markdown = f"```sh\necho skipped\n```\n{MARKER}\n```sh\necho one\n```\ntext\n{MARKER}\n```sh\necho two\n```\n"
    assert run_blocks(markdown) == ["echo one\n", "echo two\n"]


def test_the_readme_marks_its_examples() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = run_blocks(text)
    assert len(blocks) == text.count(MARKER) >= 4
    assert any("TOKEN=$(pipeline principal add" in block for block in blocks)


@pytest.mark.skipif(not (VENV / "bin" / "pipeline").exists(), reason="needs the project installed in a virtualenv")
def test_the_readme_examples_run_verbatim_against_a_live_server(tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    (work / ".venv").symlink_to(VENV)
    (work / "examples").symlink_to(ROOT / "examples")
    script = "set -euo pipefail\n" + "\n".join(run_blocks(README.read_text(encoding="utf-8")))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PIPELINE_", "VIRTUAL_ENV"))}
    with serve(f"sqlite:///{work / 'pipeline.db'}", 1, tmp_path / "server.log") as base_url:
        result = subprocess.run(["bash", "-c", script], cwd=work, env={**env, "API": base_url},
                                capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert '"state":"innovative"' in result.stdout.replace(" ", "")
    assert "imported 2025年创新型中小企业名单.csv" in result.stdout
    assert (work / "预演报告.csv").is_file()
    assert (work / "创新型中小企业名单.xlsx").is_file()
