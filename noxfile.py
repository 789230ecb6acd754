"""Checks for the whole monorepo: `nox` runs exactly what CI runs.

Every session syncs its own virtualenv from the one `uv.lock` (`uv sync --frozen`), on the
interpreter nox itself runs on (uv cannot download interpreters on our machines).
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "contract", "loadtest", "ui", "live"]

PACKAGES = ["packages/plugin", "packages/mock-soniox", "packages/loadtest"]
TEST_DIRS = ["packages/mock-soniox/tests", "packages/plugin/tests"]


def _sync(session: nox.Session, *extra: str) -> None:
    """Install the locked workspace into this session's venv."""
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--all-packages",
        *extra,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the import contracts (lint-imports, pyproject.toml)."""
    _sync(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the three packages, their tests, and the examples."""
    _sync(session)
    session.run("mypy", *PACKAGES, "noxfile.py", "examples")


@nox.session
def tests(session: nox.Session) -> None:
    """pytest for the mock and the plugin (the load tests have their own session)."""
    _sync(session)
    for test_dir in TEST_DIRS:
        session.run("pytest", test_dir, *session.posargs)


def _install_contract_clients(session: nox.Session) -> None:
    """The mock, soniox 2.10.x and the PyPI livekit-plugins-soniox 1.8.9, in this session's venv."""
    # Its own venv: the PyPI plugin has our plugin's import name. The mock's own dependencies
    # stay pinned to uv.lock through a constraints file.
    constraints = f"{session.create_tmp()}/mock-constraints.txt"
    session.run_install(
        "uv",
        "export",
        "--frozen",
        "--no-hashes",
        "--no-dev",
        "--no-emit-workspace",
        "--package",
        "mock-soniox",
        "-o",
        constraints,
        silent=True,
    )
    session.install(
        "-c",
        constraints,
        "./packages/mock-soniox",
        "soniox==2.10.*",
        "livekit-plugins-soniox==1.8.9",
        "pytest>=8.3",
        "pytest-asyncio>=0.24",
        "pytest-timeout>=2.3",
    )


CONTRACT = (
    "pytest",
    "-c",
    "packages/mock-soniox/contract/pytest.ini",
    "packages/mock-soniox/contract",
)


@nox.session
def contract(session: nox.Session) -> None:
    """The official soniox SDK 2.10.x and the PyPI livekit-plugins-soniox 1.8.9 against the mock."""
    _install_contract_clients(session)
    session.run(*CONTRACT, env={"MOCK_SONIOX_TARGET": "mock"})


@nox.session
def loadtest(session: nox.Session) -> None:
    """The load-test package's tests, then a 30-second headless locust smoke against the mock.

    Locust runs in its own processes (it monkey-patches whatever imports it). The smoke starts
    its own mock; locust exits 1 when a threshold is missed (failure ratio, p95 time to first
    audio, too few completed streams), and that fails the session. Reports: reports/smoke*.
    """
    _sync(session)
    session.run("pytest", "packages/loadtest/tests", *session.posargs)
    session.run(
        "python", "-m", "soniox_loadtest", "--headless", "-u", "12", "-r", "12", "-t", "30s",
        "--max-fail-ratio", "0.01", "--max-p95-ttfa-ms", "1000", "--min-completed", "40",
        "--csv", "reports/smoke", "--html", "reports/smoke.html",
        "TTSSharedUser", "STTUser", "PluginTTSUser",
    )  # fmt: skip


@nox.session
def ui(session: nox.Session) -> None:
    """The mock's dashboard driven in headless Chromium through Selenium.

    Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when missing);
    Selenium is installed here only, so the other sessions never carry it.
    """
    _sync(session)
    session.install("selenium>=4.20,<5")
    session.run("pytest", "packages/mock-soniox/browser_tests", *session.posargs)


@nox.session
def live(session: nox.Session) -> None:
    """With SONIOX_API_KEY: the drift report (reports/drift.md), then the contract suite, against
    the live service. Without it, skipped in one line, so `nox` stays green for everyone else.

    MOCK_SONIOX_LIVE_STT_URL / MOCK_SONIOX_LIVE_TTS_URL point it elsewhere (e.g. a stand-in).
    """
    if not os.environ.get("SONIOX_API_KEY", "").strip():
        session.skip("no SONIOX_API_KEY: the drift check against the live service did not run")
    # The drift report runs the conformance tests against both targets in the locked workspace
    # (its own pytest processes); the PyPI clients then run here against the service.
    session.run(
        "uv", "run", "--frozen", "mock-soniox", "drift", "--out", "reports/drift.md", external=True
    )
    _install_contract_clients(session)
    session.run(*CONTRACT, env={"MOCK_SONIOX_TARGET": "live"})
