"""crio-release merge: per-runner bundle outputs become one revision directory, each file checked first."""

from __future__ import annotations

from pathlib import Path

import pytest
from crio_release.build.merge import merge_builds
from helpers.publish import make_revision_set

from crio.artifacts import arch_files, manifest_name
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest
from crio.revision import parse_revision

REV = parse_revision("v1.36.2")


def test_two_runners_merge_into_one_manifest(tmp_path: Path) -> None:
    amd = make_revision_set(tmp_path / "amd64", REV, ("amd64",))
    arm = make_revision_set(tmp_path / "arm64", REV, ("arm64",))
    path = merge_builds([amd, arm], tmp_path / "dist", REV)
    assert path == tmp_path / "dist" / manifest_name(REV)
    merged = RevisionManifest.from_json(path.read_bytes())
    assert merged.architectures == ["amd64", "arm64"]
    expected = {e.name: e.sha256 for d in (amd, arm)
                for e in RevisionManifest.from_json((d / manifest_name(REV)).read_bytes()).files}
    assert {e.name: e.sha256 for e in merged.files} == expected


def test_a_file_changed_in_transit_is_refused(tmp_path: Path) -> None:
    amd = make_revision_set(tmp_path / "amd64", REV, ("amd64",))
    arm = make_revision_set(tmp_path / "arm64", REV, ("arm64",))
    sbom = arm / arch_files("arm64", REV)["sbom"]
    sbom.write_text(sbom.read_text() + "\n")
    with pytest.raises(CrioError, match="differs from its manifest") as exc:
        merge_builds([amd, arm], tmp_path / "dist", REV)
    assert exc.value.exit_code == ExitCode.VERIFY_FAILED
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize(("second", "message", "code"), [
    (("amd64",), "builds amd64 again", ExitCode.PATH_CONFLICT),
    (("arm64",), "disagree", ExitCode.INCOMPLETE_SET),
])
def test_overlapping_or_disagreeing_inputs_are_refused(tmp_path: Path, second, message, code) -> None:
    first = make_revision_set(tmp_path / "a", REV, ("amd64",))
    version = "1.22.0" if message != "disagree" else "9.9.9"
    other = make_revision_set(tmp_path / "b", REV, second, version=version)
    with pytest.raises(CrioError, match=message) as exc:
        merge_builds([first, other], tmp_path / "dist", REV)
    assert exc.value.exit_code == code
