"""`crio-release demo`: the whole product on the embedded default, as users run it.

Builds this commit's amd64 and arm64 bundles from the self-contained spec,
signs them with a demo key kept in the work directory, publishes them to a
local bucket (or any bucket URL), serves that bucket over HTTP on 127.0.0.1,
installs with `scripts/get` into a throwaway DESTDIR, runs the installed
`crio-status`, prints a summary and uninstalls. No root, no network, no cloud
account. Re-running it publishes nothing new: the build is reproducible and
signatures that still verify are kept.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from crio.arch import DEFAULT_BUILD_ARCHITECTURES
from crio.checksums import sha256_file
from crio.errors import CrioError, ExitCode
from crio.revision import Revision
from crio.signing import generate_keypair
from crio_release.build.bundle import build_bundles
from crio_release.build.repository import GET_SCRIPT, ReleaseRepository
from crio_release.publish.markers import read_markers
from crio_release.publish.publish import publish_revision
from crio_release.publish.sign import sign_revision
from crio_release.publish.storage import open_bucket

T = TypeVar("T")

@dataclass
class DemoReport:
    revision: str
    branch: str | None
    bucket: str
    served_from: str
    destdir: Path
    files: list[tuple[str, int, str]] = field(default_factory=list)
    uploaded: int = 0
    uploaded_bytes: int = 0
    already_there: int = 0
    markers: list[str] = field(default_factory=list)
    installed_files: list[str] = field(default_factory=list)
    tool_output: str = ""
    leftovers: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> list[str]:
        lines = [f"revision   {self.revision} (branch {self.branch or 'none: no marker moves'})", "built"]
        lines += [f"  {name}  {size} bytes  sha256 {digest}" for name, size, digest in self.files]
        lines += [
            f"published  {self.bucket}: {self.uploaded} uploaded ({self.uploaded_bytes} bytes), "
            f"{self.already_there} already there",
            "markers",
            *[f"  {m}" for m in self.markers],
            f"served     {self.served_from}",
            f"installed  {len(self.installed_files)} files under DESTDIR={self.destdir}",
            f"ran        {self.tool_output}",
            "uninstalled " + ("every installed file" if not self.leftovers
                              else f"but {len(self.leftovers)} files are left: {', '.join(self.leftovers)}"),
            "timings    " + ", ".join(f"{step} {seconds:.2f}s" for step, seconds in self.timings.items()),
        ]
        return lines


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        return


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve `root` read-only over HTTP on 127.0.0.1 (a random port) while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _read_url(bucket_url: str, storage_base: str) -> Iterator[str]:
    """An HTTP URL installers can read the bucket from: a local server for file://, else its public URL."""
    parsed = urlparse(bucket_url)
    if parsed.scheme == "file":
        with serve_directory(Path(parsed.path)) as url:
            yield url
    else:
        yield storage_base


def _demo_key(workdir: Path) -> tuple[Path, Path]:
    """A P-256 key pair for the demo, made once and kept so re-runs sign identically-verifying files."""
    keys = workdir / "keys"
    private, public = keys / "demo-signing.pem", keys / "demo-signing.pub"
    if not (private.is_file() and public.is_file()):
        keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        priv_pem, pub_pem = generate_keypair()
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(priv_pem)
        public.write_bytes(pub_pem)
    return private, public


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _run_get(get_script: Path, args: list[str], destdir: Path, say: Callable[[str], None]) -> None:
    env = {**os.environ, "DESTDIR": str(destdir)}
    proc = subprocess.run(["bash", str(get_script), *args], env=env, capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        say(f"  get| {line}")
    if proc.returncode != 0:
        raise CrioError(f"scripts/get {' '.join(args)} failed with exit code {proc.returncode}",
                        ExitCode(proc.returncode) if proc.returncode in ExitCode._value2member_map_
                        else ExitCode.INSTALL)


class _Steps:
    """Runs the demo's steps one after the other, announcing each and recording how long it took."""

    def __init__(self, report: DemoReport, say: Callable[[str], None]) -> None:
        self.report = report
        self.say = say

    def __call__(self, name: str, fn: Callable[[], T]) -> T:
        self.say(f"==> {name}")
        started = time.monotonic()
        result = fn()
        self.report.timings[name] = time.monotonic() - started
        return result


def default_workdir(repository: ReleaseRepository) -> Path:
    """Where `make demo` keeps its files: out/demo in the repository (ignored by git)."""
    return repository.tree / "out" / "demo"


def run_demo(workdir: Path | None = None, *, repo: Path | None = None, bucket_url: str | None = None,
             branch: str | None = None, archs: tuple[str, ...] = DEFAULT_BUILD_ARCHITECTURES,
             say: Callable[[str], None] = print) -> DemoReport:
    """Build, sign, publish, serve, install, run, uninstall the HEAD of `repo` (default: the current
    directory's repository); returns what happened at each step."""
    repository = ReleaseRepository.at(repo)
    revision, head_branch, dirty = repository.head()
    if not repository.get_script.is_file():
        raise CrioError(f"the demo installs with {GET_SCRIPT} of the repository, but {repository.tree} has none; "
                        "run it inside a clone of the project or pass --repo", ExitCode.USAGE)
    if head_branch != "main" and not (head_branch or "").startswith("release-"):
        head_branch = None
    workdir = (workdir or default_workdir(repository)).resolve()
    bucket_url = bucket_url or (workdir / "bucket").as_uri()
    if urlparse(bucket_url).scheme == "file":
        Path(urlparse(bucket_url).path).mkdir(parents=True, exist_ok=True)
    if dirty:
        say(f"note: the tree has uncommitted changes; bundles of {revision} may differ from ones published "
            "before (then publish refuses to overwrite them: remove the work directory)")
    report = DemoReport(str(revision), branch or head_branch, bucket_url, "", workdir / "root")
    shutil.rmtree(report.destdir, ignore_errors=True)
    report.destdir.mkdir(parents=True)
    step = _Steps(report, say)
    public_key = _build_and_sign(step, repository, revision, archs, workdir)
    _publish(step, repository, revision, archs, workdir / "out", _demo_key(workdir)[0])
    _install_run_uninstall(step, repository.get_script, revision, public_key)
    return report


def _build_and_sign(step: _Steps, repository: ReleaseRepository, revision: Revision, archs: tuple[str, ...],
                    workdir: Path) -> Path:
    """Build the bundles into WORKDIR/out, sign them with the demo key; returns the public key to verify with."""
    out_dir = workdir / "out"
    step("build", lambda: build_bundles(None, list(archs), revision, out_dir, repo=repository.path,
                                        on_event=lambda line: step.say(f"  {line}")))
    private_key, public_key = _demo_key(workdir)
    step("sign", lambda: sign_revision(out_dir, revision, private_key.read_bytes()))
    step.report.files = [(p.name, p.stat().st_size, sha256_file(p))
                         for p in sorted(out_dir.iterdir()) if p.is_file() and str(revision) in p.name]
    return public_key


def _publish(step: _Steps, repository: ReleaseRepository, revision: Revision, archs: tuple[str, ...],
             out_dir: Path, private_key: Path) -> None:
    """Publish to the bucket (commit markers are ordered in the repository, and signed) and read them back."""
    report = step.report
    published = step("publish", lambda: publish_revision(
        report.bucket, revision, out_dir, branch=report.branch,
        repo=repository.tree if report.branch else None, archs=list(archs),
        signing_key=private_key.read_bytes()))
    for line in published.lines():
        step.say(f"  {line}")
    report.uploaded = len(published.uploaded)
    report.uploaded_bytes = published.bytes_uploaded
    report.already_there = len(published.skipped)
    report.markers = [
        f"{m.marker} -> {m.revision or '(absent)'}{'' if m.complete else ' (INCOMPLETE)'}"
        for m in read_markers(report.bucket, list(archs))
    ]


def _install_run_uninstall(step: _Steps, get_script: Path, revision: Revision, public_key: Path) -> None:
    """Serve the bucket, install with scripts/get into DESTDIR, run the installed crio-status, uninstall."""
    report, destdir = step.report, step.report.destdir
    with _read_url(report.bucket, open_bucket(report.bucket).public_base_url) as url:
        report.served_from = url
        step("install", lambda: _run_get(get_script, ["-m", url, "-t", str(revision), "-k", str(public_key)],
                                         destdir, step.say))
    report.installed_files = _tree(destdir)
    tool = destdir / "usr" / "local" / "bin" / "crio-status"
    proc = subprocess.run([str(tool), "--version"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CrioError(f"the installed {tool} failed: {proc.stderr.strip()}", ExitCode.INSTALL)
    report.tool_output = f"{tool.relative_to(destdir.parent)} --version: {proc.stdout.strip()}"
    step.say(f"  {report.tool_output}")
    step("uninstall", lambda: _run_get(get_script, ["-U"], destdir, step.say))
    report.leftovers = _tree(destdir)
