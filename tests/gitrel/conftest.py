"""Git identity and isolation for the release-manager tests (HOME and system config are isolated suite-wide)."""

from __future__ import annotations

import pytest
from helpers.gitrel import GIT_IDENTITY


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
