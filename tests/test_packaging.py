"""The install files agree with each other and CI runs what the README tells a newcomer."""

import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import pytest

    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}


def _pip_deps():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = meta["dependencies"] + meta["optional-dependencies"]["test"]
    return {re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower(): d[len(re.split(r"[<>=!~ ]", d)[0]):].strip()
            for d in deps}


def _conda_deps():
    deps, in_pip = {}, False
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)\s*(.*)$", line)
        if re.match(r"^\s*-\s+pip:", line):
            in_pip = True
            continue
        if not m or in_pip:
            continue
        name, spec = m.group(1).lower(), m.group(2).strip()
        if name in ("python", "pip"):
            continue
        deps[CONDA_TO_PIP.get(name, name)] = spec
    return deps


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert _conda_deps() == _pip_deps()


def test_environment_yml_installs_the_package_and_python_floor_matches():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*-\s+-e \.\s*$", text, re.M), "environment.yml must pip-install the package"
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floor = meta["requires-python"].lstrip(">=")
    assert f"python>={floor}" in text


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text().splitlines()
    test_lines = [line.strip() for line in ci if "pytest" in line]
    assert test_lines, ".ci/run has no test command"
    for line in test_lines:
        assert line in readme, f".ci/run line not in README: {line}"


def test_shipped_classifier_assets_are_package_data():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "assets/*.pt" in meta["tool"]["setuptools"]["package-data"]["ganlessons"]
    for domain in ("mnist", "fashion-mnist"):
        assert (ROOT / "ganlessons" / "assets" / f"lenet_{domain}.pt").is_file()


def test_every_subpackage_goes_into_the_wheel():
    """A non-editable install (``pip install .``) ships only the packages pyproject names."""
    from fnmatch import fnmatch

    setuptools_cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    subpackages = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "ganlessons").rglob("__init__.py")}
    assert {"ganlessons", "ganlessons.models", "ganlessons.checks"} <= subpackages
    if "packages" in setuptools_cfg and isinstance(setuptools_cfg["packages"], list):
        missing = subpackages - set(setuptools_cfg["packages"])
    else:
        include = setuptools_cfg["packages"]["find"]["include"]
        missing = {p for p in subpackages if not any(fnmatch(p, pat) for pat in include)}
    assert not missing, f"pyproject.toml leaves these out of the wheel: {sorted(missing)}"
