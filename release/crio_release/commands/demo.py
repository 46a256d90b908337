"""`crio-release demo`: thin click command over crio_release.workflows.demo.run_demo."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from crio.errors import CrioError, ExitCode
from crio_release.commands.options import bucket_option, options, repo_option


@click.command("demo")
@options(
    repo_option("Git repository whose HEAD is built, and whose scripts/get installs it (default: the "
                "repository of the current directory)."),
    click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Where the bundles, the demo key, the local bucket and DESTDIR live (default: "
                      "REPO/out/demo)."),
    bucket_option(required=False, help="Publish here instead of WORKDIR/bucket: file:///DIR or "
                                       "gs://BUCKET[/PREFIX] (STORAGE_EMULATOR_HOST honoured)."),
    click.option("--branch", default=None,
                 help="Branch whose marker moves (default: the checkout's, if main or release-1.Y)."),
    click.option("--fresh", is_flag=True, help="Remove the work directory first."),
)
def demo_command(repo_path: Path | None, workdir: Path | None, bucket_url: str | None, branch: str | None,
                 fresh: bool) -> None:
    """Build, sign, publish, serve, install, run and uninstall this commit's bundles, end to end.

    \b
    Examples:
      crio-release demo                    # what `make demo` runs
      crio-release demo --fresh
      STORAGE_EMULATOR_HOST=http://127.0.0.1:9023 crio-release demo --bucket gs://cri-o-demo
    """
    from crio_release.build.repository import ReleaseRepository
    from crio_release.workflows.demo import default_workdir, run_demo

    workdir = workdir or default_workdir(ReleaseRepository.at(repo_path))
    if fresh:
        shutil.rmtree(workdir, ignore_errors=True)
    report = run_demo(workdir, repo=repo_path, bucket_url=bucket_url, branch=branch, say=click.echo)
    click.echo("\nSummary")
    for line in report.summary():
        click.echo(f"  {line}")
    if report.leftovers:
        raise CrioError(f"uninstall left {len(report.leftovers)} files in {report.destdir}", ExitCode.INSTALL)
