"""A signing publish signs the markers it moves, in the same step, on both CAS backends (fake-gcs and file://)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from crio_release.publish.marker_signing import sign_moved_marker
from crio_release.publish.publish import publish_revision
from crio_release.publish.storage import open_bucket
from helpers.publish import bucket_state, make_revision_set

from crio.artifacts import marker_signature_name, tag_marker
from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision
from crio.signed_marker import parse_marker_signature, verify_marker_signature
from crio.signing import generate_keypair, verify_digest

V1, V2, V3 = parse_revision("v1.22.1"), parse_revision("v1.22.2"), parse_revision("v1.22.3")
MARKER = tag_marker("1.22")
SIGNATURE = marker_signature_name(MARKER)


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_keypair()


def statement_in(bucket_url: str):
    found = open_bucket(bucket_url).read(SIGNATURE)
    assert found is not None, f"{SIGNATURE} was not written"
    return parse_marker_signature(found[0])


def test_each_move_is_signed_and_publication_times_only_grow(cas_bucket: str, tmp_path: Path,
                                                             keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    first = publish_revision(cas_bucket, V1, make_revision_set(tmp_path / "v1", V1, private_key=private),
                             signing_key=private)
    assert first.marker_signatures[0] == (f"signature {SIGNATURE}: signed {MARKER} -> v1.22.1 "
                                          f"(published {statement_in(cas_bucket)[0].published})")
    assert len(first.marker_signatures) == 2   # and upstream's latest-bundle-v1.22.1.txt (test_bundle_markers_signed)
    then, signature = statement_in(cas_bucket)
    verify_digest(hashlib.sha256(then.statement()).digest(), signature, public, SIGNATURE)
    publish_revision(cas_bucket, V2, make_revision_set(tmp_path / "v2", V2, private_key=private), signing_key=private)
    now, _ = statement_in(cas_bucket)
    assert (now.marker, now.revision) == (MARKER, "v1.22.2") and now.published > then.published
    data = open_bucket(cas_bucket).read(SIGNATURE)[0]   # type: ignore[index]
    assert verify_marker_signature(data, public, MARKER, "v1.22.2", then.published).published == now.published


def test_a_clock_that_went_back_never_lowers_the_publication_time(file_bucket: str, tmp_path: Path,
                                                                  keys: tuple[bytes, bytes]) -> None:
    private, _ = keys
    publish_revision(file_bucket, V1, make_revision_set(tmp_path / "v1", V1), signing_key=private)
    storage = open_bucket(file_bucket)
    before, _ = statement_in(file_bucket)
    storage.write_bytes(MARKER, b"v1.22.2\n", content_type="text/plain", cache_control="no-cache",
                        if_generation_match=storage.stat(MARKER).generation)   # type: ignore[union-attr]
    sign_moved_marker(storage, MARKER, V2, private, now=before.published - 3600)
    after, _ = statement_in(file_bucket)
    assert after.revision == "v1.22.2" and after.published == before.published + 1


def test_a_rerun_keeps_the_valid_signature(file_bucket: str, tmp_path: Path, keys: tuple[bytes, bytes]) -> None:
    private, _ = keys
    directory = make_revision_set(tmp_path / "v1", V1, private_key=private)
    publish_revision(file_bucket, V1, directory, signing_key=private)
    state = bucket_state(file_bucket)
    again = publish_revision(file_bucket, V1, directory, signing_key=private)
    assert again.marker_signatures[0].startswith(f"signature {SIGNATURE}: already signs v1.22.1")
    assert bucket_state(file_bucket) == state


def test_a_signature_is_not_written_for_a_marker_that_moved_on(cas_bucket: str, tmp_path: Path,
                                                               keys: tuple[bytes, bytes]) -> None:
    """Another publisher moved the marker between our move and our signature: its signature is its to write."""
    private, _ = keys
    publish_revision(cas_bucket, V3, make_revision_set(tmp_path / "v3", V3), signing_key=private)
    line = sign_moved_marker(open_bucket(cas_bucket), MARKER, V2, private)
    assert "not written" in line and "names v1.22.3 now" in line
    assert statement_in(cas_bucket)[0].revision == "v1.22.3"


@pytest.mark.parametrize("case", ["signed-set-without-key", "key-that-did-not-sign", "signed-marker-without-key"])
def test_refused_before_anything_is_written(case: str, file_bucket: str, tmp_path: Path,
                                            keys: tuple[bytes, bytes]) -> None:
    private, _ = keys
    other, _ = generate_keypair()
    if case == "signed-marker-without-key":
        publish_revision(file_bucket, V1, make_revision_set(tmp_path / "v1", V1), signing_key=private)
        directory, key, message = make_revision_set(tmp_path / "v2", V2), None, f"{MARKER} is signed in the bucket"
    elif case == "signed-set-without-key":
        directory, key, message = make_revision_set(tmp_path / "v2", V2, private_key=private), None, "the set is signed"
    else:
        directory, key, message = make_revision_set(tmp_path / "v2", V2, private_key=private), other, "did not sign"
    state = bucket_state(file_bucket)
    with pytest.raises(CrioError, match=message) as info:
        publish_revision(file_bucket, V2, directory, signing_key=key)
    assert info.value.exit_code == ExitCode.USAGE
    assert bucket_state(file_bucket) == state


def test_dry_run_says_what_it_would_sign(file_bucket: str, tmp_path: Path, keys: tuple[bytes, bytes]) -> None:
    private, _ = keys
    report = publish_revision(file_bucket, V1, make_revision_set(tmp_path / "v1", V1, private_key=private),
                              signing_key=private, dry_run=True)
    assert f"would sign {SIGNATURE}" in report.lines()
    assert open_bucket(file_bucket).read(SIGNATURE) is None
