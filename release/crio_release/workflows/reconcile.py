"""Reconcile tags with the bucket: every vX.Y.Z tag must have its full published set.

Upstream pushes a tag and then dispatches a build; when the dispatch fails,
the tag never gets artifacts. Here the bucket is the truth: for every version
tag the set is checked with the publisher's own completeness rule
(`crio_release.publish.completeness.revision_problems`) plus each required file by name,
and with `apply` the missing ones are rebuilt from a git worktree of the tag
(the tag's commit date as SOURCE_DATE_EPOCH, so a rebuild is byte-identical
to what a first build would have been) and published with
`crio_release.publish.publish.publish_revision`, which skips files already there
with the same bytes and refuses different ones.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import git

from crio.arch import DEFAULT_BUILD_ARCHITECTURES
from crio.artifacts import REQUIRED_ROLES, arch_files, object_path
from crio.errors import CrioError, ExitCode
from crio.revision import Revision, Version
from crio_release.gitrel.repo import GitRunner, version_tags
from crio_release.publish.completeness import revision_problems
from crio_release.publish.storage import Storage, open_bucket


class TagState(StrEnum):
    """Where a tag's set stands after reconcile looked at it (and, with apply, acted)."""

    COMPLETE = "complete"
    MISSING = "missing"
    REBUILT = "rebuilt"
    WOULD_REBUILD = "would-rebuild"


@dataclass
class TagStatus:
    """One tag: what the bucket lacks, and what reconcile did about it."""

    tag: str
    commit: str
    missing: list[str]
    state: TagState
    published: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.state is TagState.COMPLETE:
            return f"{self.tag}: complete"
        if self.state is TagState.REBUILT:
            return f"{self.tag}: rebuilt and published {len(self.published)} file(s)"
        head = "missing" if self.state is TagState.MISSING else "would rebuild, missing"
        return f"{self.tag}: {head}: " + "; ".join(self.missing)


def missing_files(storage: Storage, revision: Revision, archs: list[str]) -> list[str]:
    """Everything that keeps REVISION from being complete in STORAGE, one sentence each (empty: complete)."""
    problems = list(revision_problems(storage, revision, archs))
    for arch in archs:
        names = arch_files(arch, revision)
        for role in REQUIRED_ROLES:
            path = object_path(names[role])
            sentence = f"{path} is missing"
            if sentence not in problems and storage.stat(path) is None:
                problems.append(sentence)
    return problems


def release_tags(repo: git.Repo) -> list[tuple[Version, str]]:
    """Every version tag with its commit, oldest version first (semantic-version order)."""
    return sorted(version_tags(repo).items())


def rebuild_and_publish(repo: git.Repo, bucket_url: str, version: Version, sha: str, archs: list[str], *,
                        spec: str | None, echo: Callable[[str], None], key_pem: bytes | None = None
                        ) -> list[str]:
    """Build VERSION's bundles from a detached worktree of its tag, sign them when KEY_PEM is given,
    and publish them; return the published paths."""
    from crio_release.build.bundle import build_bundles
    from crio_release.publish.publish import publish_revision
    from crio_release.publish.sign import sign_revision

    revision = Revision(version=version)
    epoch = int(repo.commit(sha).committed_date)
    runner = GitRunner(repo, False, echo)
    with tempfile.TemporaryDirectory(prefix="crio-reconcile-") as tmp:
        source = Path(tmp) / "source"
        out_dir = Path(tmp) / "out"
        runner.run(["worktree", "add", "--quiet", "--detach", str(source), sha])
        try:
            spec_path = None
            if spec is not None:
                spec_path = source / spec
                if not spec_path.is_file():
                    raise CrioError(f"{version.tag} has no spec file {spec}; pass --spec PATH inside the "
                                    "repository or omit it for the embedded spec", ExitCode.SPEC)
            echo(f"# build {version.tag} for {', '.join(archs)} (SOURCE_DATE_EPOCH={epoch}, spec "
                 f"{spec or 'embedded'})")
            # The tag's own tree is the repository being released: its nix/ builds its crio and pinns.
            build_bundles(spec_path, archs, revision, out_dir, repo=source, source_date_epoch=epoch)
            if key_pem is not None:
                echo(f"# sign {version.tag}")
                sign_revision(out_dir, revision, key_pem)
        finally:
            runner.run(["worktree", "remove", "--force", str(source)], check=False)
            runner.run(["worktree", "prune"], check=False)
        echo(f"# publish {version.tag} to {bucket_url}")
        report = publish_revision(bucket_url, revision, out_dir, repo=Path(repo.working_tree_dir or repo.git_dir),
                         archs=archs, signing_key=key_pem)
    return [obj.path for obj in report.uploaded]


def reconcile(repo: git.Repo, bucket_url: str, *, archs: list[str] | None = None, apply: bool = False,
              dry_run: bool = False, spec: str | None = None, since: Version | None = None,
              key_pem: bytes | None = None, echo: Callable[[str], None] = print) -> list[TagStatus]:
    """Check every version tag (>= SINCE) in the bucket; with APPLY (and not DRY_RUN) rebuild and publish gaps."""
    wanted = list(archs or DEFAULT_BUILD_ARCHITECTURES)
    storage = open_bucket(bucket_url)
    storage.check()
    statuses: list[TagStatus] = []
    for version, sha in release_tags(repo):
        if since is not None and version < since:
            continue
        revision = Revision(version=version)
        missing = missing_files(storage, revision, wanted)
        status = TagStatus(version.tag, sha, missing, TagState.MISSING if missing else TagState.COMPLETE)
        if missing and apply and dry_run:
            status.state = TagState.WOULD_REBUILD
        elif missing and apply:
            status.published = rebuild_and_publish(repo, bucket_url, version, sha, wanted, spec=spec, echo=echo,
                                                   key_pem=key_pem)
            still = missing_files(storage, revision, wanted)
            if still:
                raise CrioError(f"{version.tag} is still incomplete after rebuilding: " + "; ".join(still),
                                ExitCode.INCOMPLETE_SET)
            status.state = TagState.REBUILT
        statuses.append(status)
    return statuses
