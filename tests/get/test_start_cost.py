"""What crio-get loads before it does anything, checked by module name (never by time).

Each probe runs in a fresh interpreter: in the test process other tests have imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from crio.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]

#: Loaded only on the paths that need them (--version, keyless verification, -k, --rollback, -u,
#: --verify/--status, a progress bar on a terminal), not by the CLI module; nor is requests (crio/http_get.py).
LAZY = ("crio.version", "crio.keyless.verify", "crio.keyless.trust", "crio.signing", "crio_installer.rollback",
        "crio_installer.uninstall", "crio_installer.inspect", "crio_installer.installed", "crio_installer.read_lock",
        "sigstore", "cryptography", "tqdm", "requests", "urllib3")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def _modules_after(statement: str) -> set[str]:
    probe = _python(f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))")
    assert probe.returncode == 0, probe.stderr
    return set(json.loads(probe.stdout.splitlines()[-1]))


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_the_cli_module_leaves_the_rarely_needed_modules_unloaded() -> None:
    modules = _modules_after("import crio_installer.cli")
    assert {"crio_installer.get", "crio_installer.transaction", "click"} <= modules   # the probe ran for real
    assert [name for name in LAZY if _loaded(modules, name)] == []


def test_importing_crio_or_the_keyless_policy_loads_neither_the_version_nor_the_verifier() -> None:
    modules = _modules_after("import crio, crio.keyless.policy")
    assert "crio.keyless.policy" in modules
    assert not {"crio.version", "crio.keyless.verify", "crio.keyless.trust"} & modules


def test_the_lazy_names_resolve_to_their_definitions() -> None:
    version = (ROOT / "crio" / "VERSION").read_text().strip()
    probe = _python(
        "import crio, crio.keyless as k\n"
        "from crio import __version__\n"
        "from crio.keyless import UPSTREAM_SIGNER, IdentityPolicy, KeylessResult, PUBLIC_GOOD, load_trusted_root\n"
        "from crio.keyless import verify_bundle, verify_detached\n"
        "from crio.keyless import policy, trust, verify\n"
        "assert (UPSTREAM_SIGNER, IdentityPolicy) == (policy.UPSTREAM_SIGNER, policy.IdentityPolicy)\n"
        "assert (PUBLIC_GOOD, load_trusted_root) == (trust.PUBLIC_GOOD, trust.load_trusted_root)\n"
        "assert (KeylessResult, verify_bundle, verify_detached) == "
        "(verify.KeylessResult, verify.verify_bundle, verify.verify_detached)\n"
        "assert all(getattr(k, name) is not None for name in k.__all__)\n"
        "for module, name in ((crio, 'nope'), (k, 'nope'), (k, '_EXPORTS_x')):\n"
        "    try:\n"
        "        getattr(module, name)\n"
        "    except AttributeError:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit(f'{module.__name__}.{name} resolved')\n"
        "from crio import version\n"
        "print(__version__, crio.__version__, version.version())\n")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == [version, version, version]


def test_the_signer_facts_have_one_definition() -> None:
    from crio_installer import inspect, signer

    for name in ("META_SIGNER", "META_INSTALL_TIME", "SIGNER_NONE", "SIGNER_SKIPPED", "SIGNER_KEY_PREFIX",
                 "SIGNER_KEYLESS_PREFIX", "signer_value"):
        assert getattr(inspect, name) is getattr(signer, name)


def test_the_console_script_is_the_gc_pausing_entry() -> None:
    (script,) = entry_points(group="console_scripts", name="crio-get")
    assert script.value == "crio_installer.start:main"
    ran = subprocess.run([str(Path(sys.executable).parent / "crio-get"), "--help"], capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("Usage: crio-get [OPTIONS]")
    bad = subprocess.run([str(Path(sys.executable).parent / "crio-get"), "--no-such-flag"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == ExitCode.USAGE
    assert "--no-such-flag" in bad.stderr


@pytest.mark.parametrize("enabled", [True, False])
def test_the_entry_restores_the_collector_and_freezes_what_the_import_built(enabled: bool) -> None:
    probe = _python(
        "import atexit, gc, sys\n"
        f"{'' if enabled else 'gc.disable()'}\n"
        "atexit.register(lambda: print('gc', gc.isenabled(), gc.get_freeze_count() > 1000, file=sys.stderr))\n"
        "from crio_installer.start import main\n"
        "main(['--help'])\n")
    assert probe.returncode == 0, probe.stderr
    assert "Download, verify and install a CRI-O static bundle." in probe.stdout
    assert probe.stderr.split() == ["gc", str(enabled), "True"]
