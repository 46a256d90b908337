"""Provenance: written from a built set, valid in-toto v1 / SLSA v1, signed, published and checked by verify."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest
from crio_release.build.pins import PRODUCTION_SPEC
from crio_release.build.provenance import LOCAL_BUILDER, RunFacts, write_provenance
from crio_release.cli import cli
from crio_release.publish.publish import publish_revision
from crio_release.publish.sign import sign_revision
from helpers.publish import make_revision_set

from crio.artifacts import arch_files, object_path, provenance_name, revision_files
from crio.checksums import sha256_file
from crio.cli import run_main
from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision
from crio.signing import generate_keypair

SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "schemas"
TAG = parse_revision("v1.36.2")
COMMIT = parse_revision("0123456789abcdef0123456789abcdef01234567")
SOURCE = "https://github.com/example/cri-o-release"
GITHUB_ENV = {
    "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "example/cri-o-release",
    "GITHUB_SHA": "89abcdef0123456789abcdef0123456789abcdef",
    "GITHUB_WORKFLOW_REF": "example/cri-o-release/.github/workflows/release.yml@refs/tags/v1.36.2",
    "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "2",
}


def _checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return isinstance(value, str) and bool(urlparse(value).scheme) and " " not in value

    @checker.checks("date-time")
    def _datetime(value: object) -> bool:
        return isinstance(value, str) and datetime.fromisoformat(value) is not None

    return checker


def validate(statement: dict) -> None:
    """Both schemas: the envelope as in-toto Statement v1, the predicate as SLSA Provenance v1."""
    for name, instance in (("in-toto-statement-v1.json", statement),
                           ("slsa-provenance-v1.json", statement["predicate"])):
        schema = json.loads((SCHEMAS / name).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema, format_checker=_checker()).validate(instance)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        run_main(cli, list(argv))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def built(tmp_path: Path) -> Path:
    return make_revision_set(tmp_path / "dist", TAG)


def test_statement_is_valid_in_toto_v1_and_slsa_v1(built: Path) -> None:
    facts = RunFacts.from_environment(TAG, env=GITHUB_ENV)
    path = write_provenance(built, TAG, facts, PRODUCTION_SPEC)
    assert path.name == provenance_name(TAG) == f"cri-o.{TAG}.provenance.json"
    statement = json.loads(path.read_text())
    validate(statement)
    expected = {arch_files(a, TAG)[r]: sha256_file(built / arch_files(a, TAG)[r])
                for a in ("amd64", "arm64") for r in ("tarball", "checksum", "sbom")}
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == expected
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["revision"] == "v1.36.2"
    assert definition["externalParameters"]["architectures"] == ["amd64", "arm64"]
    assert definition["externalParameters"]["spec"]["digest"]["sha256"] == sha256_file(PRODUCTION_SPEC)
    deps = {d["name"]: d for d in definition["resolvedDependencies"]}
    assert deps["source"] == {"name": "source", "uri": f"git+{SOURCE}@refs/tags/v1.36.2",
                              "digest": {"gitCommit": GITHUB_ENV["GITHUB_SHA"]}}
    assert deps["nixpkgs"]["uri"].startswith("https://github.com/NixOS/nixpkgs/archive/")
    spec_text = PRODUCTION_SPEC.read_text()
    url_deps = [d for d in deps.values() if d["name"] not in ("source", "nixpkgs", "crio-source")]
    assert url_deps and all(d["uri"] in spec_text and d["digest"]["sha256"] in spec_text for d in url_deps)
    run_details = statement["predicate"]["runDetails"]
    assert run_details["builder"]["id"] == f"https://github.com/{GITHUB_ENV['GITHUB_WORKFLOW_REF']}"
    assert run_details["metadata"]["invocationId"] == f"{SOURCE}/actions/runs/4242/attempts/2"
    # The same inputs give the same bytes (a re-run publishes nothing new).
    before = path.read_bytes()
    assert write_provenance(built, TAG, facts, PRODUCTION_SPEC).read_bytes() == before


def test_schema_rejects_what_verify_would(built: Path) -> None:
    statement = json.loads(write_provenance(built, TAG, RunFacts.from_environment(TAG, env=GITHUB_ENV)).read_text())
    for broken in ({**statement, "subject": []},
                   {**statement, "_type": "https://in-toto.io/Statement/v0.1"},
                   {**statement, "predicate": {"buildDefinition": {"buildType": "x y"}, "runDetails": {}}}):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_refuses_to_attest_a_file_changed_after_the_build(built: Path) -> None:
    tarball = built / arch_files("arm64", TAG)["tarball"]
    tarball.write_bytes(tarball.read_bytes() + b"\0")
    with pytest.raises(CrioError, match="refusing to attest") as exc:
        write_provenance(built, TAG, RunFacts.from_environment(TAG, env=GITHUB_ENV))
    assert exc.value.exit_code == ExitCode.VERIFY_FAILED
    assert not (built / provenance_name(TAG)).exists()


def test_facts_outside_ci_need_the_source(built: Path) -> None:
    with pytest.raises(CrioError, match="--source-repo") as exc:
        RunFacts.from_environment(TAG, env={})
    assert exc.value.exit_code == ExitCode.USAGE
    local = RunFacts.from_environment(COMMIT, source_repo=SOURCE, env={})
    assert (local.source_commit, local.builder_id, local.invocation_id) == (str(COMMIT), LOCAL_BUILDER, None)


def _publish(directory: Path, revision, key: bytes, tmp_path: Path) -> str:
    sign_revision(directory, revision, key)
    bucket = tmp_path / "bucket"
    bucket.mkdir(exist_ok=True)
    publish_revision(bucket.as_uri(), revision, directory, signing_key=key)  # a signed set signs its markers
    return bucket.as_uri()


def _tamper(path: Path, change) -> None:
    statement = json.loads(path.read_text())
    change(statement)
    path.write_text(json.dumps(statement))


@pytest.fixture
def keys(tmp_path: Path) -> tuple[bytes, Path]:
    private, public = generate_keypair()
    (tmp_path / "pub.pem").write_bytes(public)
    return private, tmp_path / "pub.pem"


def test_published_provenance_verifies(capsys, built, keys, tmp_path, monkeypatch) -> None:
    for name, value in GITHUB_ENV.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "provenance", "--rev", str(TAG), str(built))
    assert code == 0, err
    assert out.strip() == f"wrote {built / provenance_name(TAG)}"
    bucket = _publish(built, TAG, keys[0], tmp_path)
    published = Path(urlparse(bucket).path)
    for name in (provenance_name(TAG), revision_files(TAG)["provenance_signature"]):
        assert (published / object_path(name)).is_file()
    code, out, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(TAG), "--key", str(keys[1]))
    assert code == 0, err


@pytest.mark.parametrize(("change", "needle"), [
    (lambda s: s["subject"].pop(), "has no subject"),
    (lambda s: s["subject"][0]["digest"].update(sha256="0" * 64), "has sha256 " + "0" * 64),
    (lambda s: s["subject"].append({"name": "cri-o.s390x.v1.36.2.tar.gz", "digest": {"sha256": "1" * 64}}),
     "which is not published"),
    (lambda s: s["predicate"]["buildDefinition"]["resolvedDependencies"][0].update(
        uri=f"git+{SOURCE}@refs/tags/v1.36.1"), "is not the tag v1.36.2"),
    (lambda s: s.update(predicateType="https://slsa.dev/provenance/v0.2"), "predicateType"),
])
def test_a_signed_statement_with_a_missing_or_wrong_subject_fails_verify(capsys, built, keys, tmp_path, change,
                                                                         needle) -> None:
    path = write_provenance(built, TAG, RunFacts.from_environment(TAG, env=GITHUB_ENV))
    _tamper(path, change)  # before signing: the signature is valid, only the content is wrong
    bucket = _publish(built, TAG, keys[0], tmp_path)
    code, _, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(TAG), "--key", str(keys[1]))
    assert code == ExitCode.VERIFY_FAILED
    problems = [line for line in err.splitlines() if line.startswith("problem: ")]
    assert problems and all(provenance_name(TAG) in line for line in problems), err
    assert any(needle in line for line in problems), err


def test_commit_revision_needs_its_own_commit_as_source(capsys, tmp_path, keys) -> None:
    directory = make_revision_set(tmp_path / "dist", COMMIT)
    path = write_provenance(directory, COMMIT, RunFacts.from_environment(COMMIT, source_repo=SOURCE, env={}))
    assert json.loads(path.read_text())["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"] == {
        "gitCommit": str(COMMIT)}
    _tamper(path, lambda s: s["predicate"]["buildDefinition"]["resolvedDependencies"][0].update(
        digest={"gitCommit": "f" * 40}))
    bucket = _publish(directory, COMMIT, keys[0], tmp_path)
    code, _, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(COMMIT), "--key", str(keys[1]))
    assert code == ExitCode.VERIFY_FAILED and f"is not the revision {COMMIT}" in err


def test_a_statement_changed_after_signing_fails_its_signature(capsys, built, keys, tmp_path) -> None:
    write_provenance(built, TAG, RunFacts.from_environment(TAG, env=GITHUB_ENV))
    bucket = _publish(built, TAG, keys[0], tmp_path)
    stored = Path(urlparse(bucket).path) / object_path(provenance_name(TAG))
    stored.write_text(stored.read_text().replace('"v1.36.2"', '"v1.36.2" '))
    code, _, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(TAG), "--key", str(keys[1]))
    assert code == ExitCode.VERIFY_FAILED and "does not verify with the trusted key" in err
