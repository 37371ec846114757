"""One lock pins every environment: the venv the tests run in, the Lambda layer, both images.

requirements/lock.txt is the one resolution; layer.txt, monthly.txt and jobs.txt are derived from it
by `make lock` (`uv pip compile -c lock.txt`). These tests fail when any of them drifts from it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQ = ROOT / "requirements"


def _check_env():
    spec = importlib.util.spec_from_file_location("check_env", REQ / "check_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_env = _check_env()
LOCK = check_env.pins(REQ / "lock.txt")


def test_the_environment_running_the_tests_is_the_lock() -> None:
    wrong = check_env.differences(LOCK, check_env.installed())
    assert not wrong, "this venv is not the lock (rm -rf .venv && make install):\n" + "\n".join(wrong)


def test_the_check_names_a_drifted_package(tmp_path: Path) -> None:
    # GIVEN a lock and an environment where one package moved and one is missing
    locked = {"curl-cffi": "0.16.3", "numpy": "2.4.6", "pandas": "3.1.1"}
    have = {"curl-cffi": "0.17.0", "numpy": "2.4.6"}
    # THEN each is named with both versions
    assert check_env.differences(locked, have) == [
        "curl-cffi: locked 0.16.3, installed 0.17.0",
        "pandas: locked 3.1.1, installed nothing",
    ]


@pytest.mark.parametrize("derived", ["layer.txt", "monthly.txt", "jobs.txt"])
def test_derived_requirements_pin_exactly_the_locks_versions(derived: str) -> None:
    pinned = check_env.pins(REQ / derived)
    moved = {name: (version, LOCK.get(name)) for name, version in pinned.items() if LOCK.get(name) != version}
    assert not moved, f"requirements/{derived} disagrees with lock.txt (run make lock): {moved}"
    text = (REQ / derived).read_text()
    unhashed = [n for n in re.findall(r"^([A-Za-z0-9][\w.-]*)==\S+ *$", text, re.M)]
    assert not unhashed, f"requirements/{derived}: pins without hashes: {unhashed}"


def test_every_requirement_of_the_package_is_locked() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"]) + [r for reqs in project["optional-dependencies"].values() for r in reqs]
    names = {check_env.normalise(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in wanted}
    assert not names - set(LOCK), f"in pyproject.toml but not in the lock (run make lock): {names - set(LOCK)}"


def test_torch_is_the_pinned_cpu_build_everywhere_it_is_installed() -> None:
    import tomllib

    train = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    assert "torch==2.13.0" in train
    assert LOCK["torch"] == "2.13.0+cpu"
    assert check_env.pins(REQ / "monthly.txt")["torch"] == "2.13.0+cpu"
    assert "torch" not in check_env.pins(REQ / "layer.txt")


def pip_installs(text: str) -> list[str]:
    """Each `pip install` command of a Dockerfile or Makefile, continuation lines joined and make's
    `$(PIP_FLAGS)` expanded (the layer's Makefile keeps its flags in that variable)."""
    text = re.sub(r"\\\n\s*", " ", text)
    flags = re.search(r"^PIP_FLAGS\s*:=(.*)$", text, re.M)
    text = text.replace("$(PIP_FLAGS)", flags.group(1) if flags else "")
    commands = re.split(r"\n|&&|;", text)
    return [c.strip() for c in commands if re.search(r"pip install\b", c) and not c.strip().startswith("#")]


@pytest.mark.parametrize(
    ("recipe", "requirements"),
    [
        ("layers/runtime/Makefile", "requirements/layer.txt"),
        ("functions/monthly_pipeline/Dockerfile", "requirements/monthly.txt"),
        ("ml/Dockerfile", "requirements/jobs.txt"),
    ],
)
def test_each_build_installs_its_derived_file_hash_checked_and_nothing_else(recipe: str, requirements: str) -> None:
    installs = pip_installs((ROOT / recipe).read_text())
    locked = [c for c in installs if "--require-hashes" in c and "--no-deps" in c and Path(requirements).name in c]
    assert locked, f"{recipe} does not install {requirements} with --require-hashes --no-deps"
    # the only other install allowed is the GPU image's swap to the same torch version
    for c in installs:
        if c not in locked:
            assert "torch==2.13.0+" in c, f"{recipe} resolves something outside the lock: {c}"
