"""Suite-wide settings: every test runs with an isolated HOME, no system git config and no cloud credentials."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("STORAGE_EMULATOR_HOST", "CRIO_SIGNING_KEY", "CRIO_VERIFY_KEY", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("NO_COLOR", "1")
