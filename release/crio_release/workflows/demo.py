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
from urllib.parse import urlparse

import click

from crio.arch import DEFAULT_BUILD_ARCHITECTURES
from crio.checksums import sha256_file
from crio.errors import CrioError, ExitCode
from crio.revision import Revision, parse_revision
from crio.signing import generate_keypair
from crio.version import git_output
from crio_release.build.bundle import REPO_ROOT, build_bundles
from crio_release.publish.markers import read_markers
from crio_release.publish.publish import publish_revision
from crio_release.publish.sign import sign_revision
from crio_release.publish.storage import open_bucket

GET_SCRIPT = REPO_ROOT / "scripts" / "get"
DEFAULT_WORKDIR = REPO_ROOT / "out" / "demo"


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


def _git(*args: str) -> str:
    out = git_output(list(args), REPO_ROOT)
    if out is None:
        raise CrioError(f"the demo builds the current commit, but `git {' '.join(args)}` failed in {REPO_ROOT}",
                        ExitCode.GIT)
    return out


def current_commit() -> tuple[Revision, str | None, bool]:
    """This checkout's HEAD, its branch when it is main or a release branch, and whether the tree is dirty."""
    revision = parse_revision(_git("rev-parse", "HEAD"))
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return revision, branch if branch == "main" or branch.startswith("release-") else None, dirty


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


def _run_get(args: list[str], destdir: Path, say: Callable[[str], None]) -> None:
    env = {**os.environ, "DESTDIR": str(destdir)}
    proc = subprocess.run(["bash", str(GET_SCRIPT), *args], env=env, capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        say(f"  get| {line}")
    if proc.returncode != 0:
        raise CrioError(f"scripts/get {' '.join(args)} failed with exit code {proc.returncode}",
                        ExitCode(proc.returncode) if proc.returncode in ExitCode._value2member_map_
                        else ExitCode.INSTALL)


def run_demo(workdir: Path, *, bucket_url: str | None = None, branch: str | None = None,
             archs: tuple[str, ...] = DEFAULT_BUILD_ARCHITECTURES,
             say: Callable[[str], None] = print) -> DemoReport:
    """Build, sign, publish, serve, install, run, uninstall; returns what happened at each step."""
    workdir = workdir.resolve()
    revision, detected_branch, dirty = current_commit()
    branch = branch or detected_branch
    out_dir, destdir = workdir / "out", workdir / "root"
    bucket_url = bucket_url or (workdir / "bucket").as_uri()
    if urlparse(bucket_url).scheme == "file":
        Path(urlparse(bucket_url).path).mkdir(parents=True, exist_ok=True)
    if dirty:
        say(f"note: the tree has uncommitted changes; bundles of {revision} may differ from ones published "
            "before (then publish refuses to overwrite them: remove the work directory)")
    shutil.rmtree(destdir, ignore_errors=True)
    destdir.mkdir(parents=True)
    report = DemoReport(str(revision), branch, bucket_url, "", destdir)

    def step(name: str) -> Callable[[Callable[[], object]], object]:
        def wrap(fn: Callable[[], object]) -> object:
            say(f"==> {name}")
            started = time.monotonic()
            result = fn()
            report.timings[name] = time.monotonic() - started
            return result
        return wrap

    build = step("build")(lambda: build_bundles(None, list(archs), revision, out_dir,
                                                on_event=lambda line: say(f"  {line}")))
    private_key, public_key = _demo_key(workdir)
    step("sign")(lambda: sign_revision(out_dir, revision, private_key.read_bytes()))
    del build
    report.files = [(p.name, p.stat().st_size, sha256_file(p))
                    for p in sorted(out_dir.iterdir()) if p.is_file() and str(revision) in p.name]

    published = step("publish")(lambda: publish_revision(bucket_url, revision, out_dir, branch=branch,
                                                         repo=REPO_ROOT if branch else None, archs=list(archs),
                                                         signing_key=private_key.read_bytes()))
    for line in published.lines():  # type: ignore[attr-defined]
        say(f"  {line}")
    report.uploaded = len(published.uploaded)  # type: ignore[attr-defined]
    report.uploaded_bytes = published.bytes_uploaded  # type: ignore[attr-defined]
    report.already_there = len(published.skipped)  # type: ignore[attr-defined]
    report.markers = [
        f"{m.marker} -> {m.revision or '(absent)'}{'' if m.complete else ' (INCOMPLETE)'}"
        for m in read_markers(bucket_url, list(archs))
    ]

    storage_base = open_bucket(bucket_url).public_base_url
    with _read_url(bucket_url, storage_base) as url:
        report.served_from = url
        step("install")(lambda: _run_get(["-u", url, "-t", str(revision), "-k", str(public_key)], destdir, say))
    report.installed_files = _tree(destdir)
    tool = destdir / "usr" / "local" / "bin" / "crio-status"
    proc = subprocess.run([str(tool), "--version"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CrioError(f"the installed {tool} failed: {proc.stderr.strip()}", ExitCode.INSTALL)
    report.tool_output = f"{tool.relative_to(destdir.parent)} --version: {proc.stdout.strip()}"
    say(f"  {report.tool_output}")

    step("uninstall")(lambda: _run_get(["-U"], destdir, say))
    report.leftovers = _tree(destdir)
    return report


@click.command("demo")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_WORKDIR,
              show_default=True, help="Where the bundles, the demo key, the local bucket and DESTDIR live.")
@click.option("--bucket", "bucket_url", default=None,
              help="Publish here instead of WORKDIR/bucket: file:///DIR or gs://BUCKET[/PREFIX] "
                   "(STORAGE_EMULATOR_HOST honoured).")
@click.option("--branch", default=None, help="Branch whose marker moves (default: the checkout's, if main or "
                                             "release-1.Y).")
@click.option("--fresh", is_flag=True, help="Remove the work directory first.")
def demo_command(workdir: Path, bucket_url: str | None, branch: str | None, fresh: bool) -> None:
    """Build, sign, publish, serve, install, run and uninstall this commit's bundles, end to end.

    \b
    Examples:
      crio-release demo                    # what `make demo` runs
      crio-release demo --fresh
      STORAGE_EMULATOR_HOST=http://127.0.0.1:9023 crio-release demo --bucket gs://cri-o-demo
    """
    if fresh:
        shutil.rmtree(workdir, ignore_errors=True)
    report = run_demo(workdir, bucket_url=bucket_url, branch=branch, say=click.echo)
    click.echo("\nSummary")
    for line in report.summary():
        click.echo(f"  {line}")
    if report.leftovers:
        raise CrioError(f"uninstall left {len(report.leftovers)} files in {report.destdir}", ExitCode.INSTALL)
