"""The README's promises: two set-up commands, CI runs the test command, the quickstart runs."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def test_exactly_two_setup_commands_and_ci_runs_the_test_command():
    bash = [b.strip() for b in _blocks("bash")]
    assert len(bash) == 2, bash
    assert all("\n" not in b for b in bash)
    assert bash[0].endswith("pip install . && vaekit train")
    test_command = bash[1].split("&&")[-1].strip()
    assert test_command.startswith("python -m pytest")
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci_lines]


def test_quickstart_runs_verbatim(tmp_path):
    (python_block,) = _blocks("python")
    script = tmp_path / "quickstart.py"
    script.write_text(python_block)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.fullmatch(r"step 300: loss (\S+)\n", result.stdout)
    assert match, result.stdout
    # A 64x64 Bernoulli decoder at initialisation costs about 4096 * log 2 = 2839 nats.
    assert float(match.group(1)) < 600.0
