"""The toolkit's CRI-O version and the build information stamped into builds.

The version has exactly one source, `crio/VERSION` (one line, MAJOR.MINOR.PATCH):
Python, the Makefile, nix and the release-manager commands all read that file.
Build information is stamped into `crio/_buildinfo.json` by the bundle
builder; a source checkout without a stamp asks git instead.
"""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from crio.errors import CrioError
from crio.revision import Version

VERSION_FILE = "VERSION"
BUILDINFO_FILE = "_buildinfo.json"


def read_version_text(text: str) -> Version:
    """Parse the content of a VERSION file: one semantic version, nothing else."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1 or lines[0] != lines[0].strip():
        raise ValueError(f"a VERSION file holds exactly one line MAJOR.MINOR.PATCH, got {text!r}")
    try:
        return Version.parse(lines[0])
    except CrioError as exc:
        raise ValueError(exc.message) from None


def version() -> Version:
    """The CRI-O version this toolkit builds and releases."""
    return read_version_text(resources.files("crio").joinpath(VERSION_FILE).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class BuildInfo:
    version: str
    git_commit: str
    git_tree_state: str
    build_date: str
    platform: str
    python: str

    def as_text(self) -> str:
        """The `crio version` layout: one `Label:  value` line each."""
        rows = asdict(self)
        return "\n".join(f"{(_LABELS[key] + ':').ljust(15)} {value}" for key, value in rows.items())


_LABELS = {
    "version": "Version",
    "git_commit": "GitCommit",
    "git_tree_state": "GitTreeState",
    "build_date": "BuildDate",
    "platform": "Platform",
    "python": "PythonVersion",
}


def git_output(args: list[str], cwd: Path) -> str | None:
    """What `git ARGS` prints in `cwd`, stripped, or None when git is missing or fails (no checkout)."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def collect_build_info(source_dir: Path | None = None, build_date: datetime | None = None) -> BuildInfo:
    """Describe a build of `source_dir` (default: this package's checkout) now, from git."""
    root = source_dir or Path(__file__).resolve().parent.parent
    commit = git_output(["rev-parse", "HEAD"], root) or "unknown"
    status = git_output(["status", "--porcelain", "--untracked-files=no"], root)
    tree = "unknown" if status is None else ("dirty" if status else "clean")
    when = build_date or datetime.now(UTC)
    return BuildInfo(
        version=str(version()),
        git_commit=commit,
        git_tree_state=tree,
        build_date=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        platform=f"{platform.system().lower()}/{_arch_name()}",
        python=platform.python_version(),
    )


def _arch_name() -> str:
    from crio.arch import host_arch

    try:
        return host_arch()
    except CrioError:
        return platform.machine()


def build_info() -> BuildInfo:
    """The stamped build information, or what git says of this checkout when nothing was stamped."""
    stamp = resources.files("crio").joinpath(BUILDINFO_FILE)
    if stamp.is_file():
        data = json.loads(stamp.read_text(encoding="utf-8"))
        data.setdefault("python", platform.python_version())
        return BuildInfo(**data)
    return collect_build_info()


def stamp_build_info(info: BuildInfo) -> str:
    """The JSON text to write as `crio/_buildinfo.json` in a build."""
    return json.dumps(asdict(info), indent=2, sort_keys=True) + "\n"
