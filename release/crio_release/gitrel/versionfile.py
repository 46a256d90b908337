"""The operated repository's one version source: a file holding MAJOR.MINOR.PATCH (default `crio/VERSION`).

Read from a commit's tree, never from the work tree, so what is checked is
exactly what a branch or tag contains. Parsed by `crio.version.read_version_text`.
"""

from __future__ import annotations

import git

from crio.revision import Version
from crio.version import read_version_text
from crio_release.gitrel.repo import file_at, refused

#: Where the version lives in the repository the release commands operate on.
DEFAULT_VERSION_FILE = "crio/VERSION"


def version_at(repo: git.Repo, sha: str, path: str = DEFAULT_VERSION_FILE, what: str = "") -> Version:
    """The version the file says at a commit; refuses when the file is missing or malformed."""
    found = file_at(repo, sha, path)
    label = what or sha[:12]
    if found is None:
        raise refused(f"{label} has no version file {path}; pass --version-file PATH of the one-line "
                      "MAJOR.MINOR.PATCH file")
    try:
        return read_version_text(found[0])
    except ValueError as exc:
        raise refused(f"{path} at {label}: {exc}") from None


def version_mode(repo: git.Repo, sha: str, path: str = DEFAULT_VERSION_FILE) -> str:
    found = file_at(repo, sha, path)
    return found[1] if found else "100644"


def version_text(version: Version) -> str:
    """The file content for a version: one line."""
    return f"{version}\n"
