"""url/path sources against a real loopback HTTP server, and each build-time error with its message and exit code."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from crio_release.build.bundle import build_bundles
from helpers.bundles import EPOCH, REV, FileServer, fake_elf, make_tgz, write_spec

from crio.artifacts import tarball_name
from crio.errors import CrioError, ExitCode


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(spec: Path, out: Path, files: Path, archs: tuple[str, ...] = ("amd64", "arm64")):
    return build_bundles(spec, list(archs), REV, out, source_date_epoch=EPOCH, bundle_files=files)


def read_member(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


def component(name: str, dest: str, sources: str, mode: str = "0755", license_: str = "Apache-2.0") -> str:
    return (f'\n[[component]]\nname = "{name}"\nversion = "1.0"\nlicense = "{license_}"\n'
            f'dest = "{dest}"\nmode = "{mode}"\n{sources}')


def test_url_sources_plain_file_and_tgz_members(tmp_path: Path, http_files: FileServer, bundle_files: Path) -> None:
    bins = {arch: fake_elf(tmp_path / arch / "runc", m, arch.encode() * 100).read_bytes()
            for arch, m in (("amd64", 62), ("arm64", 183))}
    urls = {arch: http_files.add(f"/runc.{arch}", data, fail_first=1 if arch == "amd64" else 0)
            for arch, data in bins.items()}
    plugins = {}
    for arch, machine in (("amd64", 62), ("arm64", 183)):
        members = {"./bridge": fake_elf(tmp_path / "p" / arch / "b", machine, b"bridge").read_bytes(),
                   "./loopback": fake_elf(tmp_path / "p" / arch / "l", machine, b"loop").read_bytes(),
                   "./README": b"not wanted"}
        plugins[arch] = (http_files.add(f"/cni-{arch}.tgz", make_tgz(tmp_path / f"cni-{arch}.tgz", members)),
                         members)
    body = component("runc", "bin/runc", "".join(
        f'[component.source.{a}]\nurl = "{urls[a]}"\nsha256 = "{sha(bins[a])}"\n' for a in bins))
    body += component("cni-plugins", "cni-plugins", "".join(
        f'[component.source.{a}]\nurl = "{u}"\nsha256 = "{sha(Path(tmp_path / f"cni-{a}.tgz").read_bytes())}"\n'
        f'members = ["bridge", "./loopback"]\n' for a, (u, _) in plugins.items()))
    spec = write_spec(tmp_path / "spec.toml", body)

    result = build(spec, tmp_path / "out", bundle_files)

    for arch in ("amd64", "arm64"):
        tarball = result.bundles[arch].tarball.path
        assert read_member(tarball, "cri-o/bin/runc") == bins[arch]
        assert read_member(tarball, "cri-o/cni-plugins/bridge") == plugins[arch][1]["./bridge"]
        assert read_member(tarball, "cri-o/cni-plugins/loopback") == plugins[arch][1]["./loopback"]
        with tarfile.open(tarball) as tar:
            assert "cri-o/cni-plugins/README" not in tar.getnames()
        manifest = json.loads(read_member(tarball, "cri-o/manifest.json"))
        runc = next(c for c in manifest["components"] if c["name"] == "runc")
        assert runc["source"] == {"kind": "url", "url": urls[arch], "sha256": sha(bins[arch])}
    assert http_files.hits("/runc.amd64") == 2       # one 503, then retried
    assert http_files.hits("/cni-amd64.tgz") == 1    # fetched once
    sbom = result.bundles["amd64"].sbom.path.read_text()
    assert "PackageName: runc\nSPDXID: SPDXRef-Package-runc\nPackageVersion: 1.0\n" in sbom
    assert f"downloaded from {urls['amd64']}, sha256 {sha(bins['amd64'])}" in sbom


def _one_url_spec(tmp_path: Path, url: str, digest: str) -> Path:
    return write_spec(tmp_path / "spec.toml", component(
        "crun", "bin/crun", f'[component.source.all]\nurl = "{url}"\nsha256 = "{digest}"\n', mode="0644"))


def test_checksum_mismatch_names_component_and_both_hashes(tmp_path: Path, http_files: FileServer,
                                                           bundle_files: Path) -> None:
    url = http_files.add("/crun", b"tampered")
    wanted = "0" * 64
    with pytest.raises(CrioError) as err:
        build(_one_url_spec(tmp_path, url, wanted), tmp_path / "out", bundle_files)
    assert err.value.exit_code == ExitCode.CHECKSUM
    assert err.value.message == (f"component crun: sha256 mismatch for {url}: expected {wanted}, "
                                 f"got {sha(b'tampered')}")
    assert list((tmp_path / "out").iterdir()) == []   # nothing half-done, no temp dir left


def test_download_gives_up_after_retries(tmp_path: Path, http_files: FileServer, bundle_files: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crio_release.build.sources.RETRY_DELAY", 0.01)
    url = http_files.add("/flaky", b"x", fail_first=10)
    with pytest.raises(CrioError) as err:
        build(_one_url_spec(tmp_path, url, sha(b"x")), tmp_path / "out", bundle_files)
    assert err.value.exit_code == ExitCode.BUILD
    assert err.value.message.startswith(f"component crun: downloading {url} failed after 4 attempts")
    assert "503" in err.value.message
    assert http_files.hits("/flaky") == 4   # ATTEMPTS, once for both architectures


def test_missing_archive_member(tmp_path: Path, http_files: FileServer, bundle_files: Path) -> None:
    data = make_tgz(tmp_path / "a.tgz", {"crictl": b"x"})
    url = http_files.add("/a.tgz", data)
    spec = write_spec(tmp_path / "spec.toml", component(
        "crictl", "bin/crictl", f'[component.source.all]\nurl = "{url}"\nsha256 = "{sha(data)}"\nmember = "nope"\n'))
    with pytest.raises(CrioError, match=r"^component crictl: nope not found in http://127\.0\.0\.1:\d+/a\.tgz$"):
        build(spec, tmp_path / "out", bundle_files)


def test_archive_symlink_member_is_refused(tmp_path: Path, http_files: FileServer, bundle_files: Path) -> None:
    archive = tmp_path / "evil.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("crictl")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        tar.addfile(link)
    url = http_files.add("/evil.tgz", archive.read_bytes())
    spec = write_spec(tmp_path / "spec.toml", component(
        "crictl", "bin/crictl",
        f'[component.source.all]\nurl = "{url}"\nsha256 = "{sha(archive.read_bytes())}"\nmember = "crictl"\n'))
    with pytest.raises(CrioError, match=r"component crictl: member crictl of .* is not a regular file"):
        build(spec, tmp_path / "out", bundle_files)


def test_elf_machine_mismatch(tmp_path: Path, bundle_files: Path) -> None:
    fake_elf(tmp_path / "amd64" / "conmon", 62)
    fake_elf(tmp_path / "arm64" / "conmon", 62)   # an x86-64 binary where arm64 is needed
    spec = write_spec(tmp_path / "spec.toml", component(
        "conmon", "bin/conmon",
        '[component.source.amd64]\npath = "amd64/conmon"\n[component.source.arm64]\npath = "arm64/conmon"\n'))
    with pytest.raises(CrioError) as err:
        build(spec, tmp_path / "out", bundle_files)
    assert err.value.exit_code == ExitCode.ELF_MACHINE
    assert err.value.message == (
        "component conmon: bin/conmon is an ELF binary for x86-64 (e_machine 62), but this is the arm64 bundle, "
        "which needs aarch64 (e_machine 183)")
    assert list((tmp_path / "out").iterdir()) == []


def test_elf_check_reads_big_endian_headers(tmp_path: Path) -> None:
    from crio_release.build.elf import elf_machine

    path = tmp_path / "s390"
    header = bytearray(fake_elf(path, 0).read_bytes())
    header[5] = 2
    header[18:20] = (22).to_bytes(2, "big")
    path.write_bytes(bytes(header))
    assert elf_machine(path) == 22
    (tmp_path / "text").write_text("#!/bin/sh\n")
    assert elf_machine(tmp_path / "text") is None


def test_a_file_with_the_elf_magic_but_a_malformed_header_is_refused(tmp_path: Path, bundle_files: Path) -> None:
    # No machine can be read from it, so it cannot be shown to match the bundle: refused, not waved through.
    (tmp_path / "conmon").write_bytes(b"\x7fELF\x09\x01" + bytes(58))
    spec = write_spec(tmp_path / "spec.toml", component("conmon", "bin/conmon", '[component.source.all]\npath = "conmon"\n'))
    with pytest.raises(CrioError) as err:
        build(spec, tmp_path / "out", bundle_files, archs=("amd64",))
    assert err.value.exit_code == ExitCode.BUILD
    assert err.value.message == ("component conmon: bin/conmon: starts like an ELF file but unknown class 9 "
                                 "or byte order 1")
    assert list((tmp_path / "out").iterdir()) == []


def test_component_missing_for_an_arch(tmp_path: Path, bundle_files: Path) -> None:
    fake_elf(tmp_path / "crun", 62)
    spec = write_spec(tmp_path / "spec.toml", component("crun", "bin/crun", '[component.source.amd64]\npath = "crun"\n'))
    with pytest.raises(CrioError) as err:
        build(spec, tmp_path / "out", bundle_files)
    assert err.value.exit_code == ExitCode.MISSING_COMPONENT
    assert err.value.message == ("component crun has no source for arm64 (it has: amd64); "
                                 "add [component.source.arm64] or [component.source.all]")
    assert not (tmp_path / "out").exists()


def test_two_components_same_path(tmp_path: Path, bundle_files: Path) -> None:
    (tmp_path / "a.conf").write_text("a")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "crio.conf").write_text("b")
    spec = write_spec(tmp_path / "spec.toml",
                      component("one", "etc/crio.conf", '[component.source.all]\npath = "a.conf"\n', mode="0644")
                      + component("two", "etc", '[component.source.all]\npath = "etc"\n', mode="0644"))
    with pytest.raises(CrioError) as err:
        build(spec, tmp_path / "out", bundle_files)
    assert err.value.exit_code == ExitCode.PATH_CONFLICT
    assert err.value.message == "components one and two both write cri-o/etc/crio.conf"


def test_file_where_another_component_needs_a_directory(tmp_path: Path, bundle_files: Path) -> None:
    (tmp_path / "f").write_text("a")
    spec = write_spec(tmp_path / "spec.toml",
                      component("one", "bin", '[component.source.all]\npath = "f"\n', mode="0644")
                      + component("two", "bin/x", '[component.source.all]\npath = "f"\n', mode="0644"))
    with pytest.raises(CrioError, match="components one and two conflict: cri-o/bin is a file of one") as err:
        build(spec, tmp_path / "out", bundle_files, archs=("amd64",))
    assert err.value.exit_code == ExitCode.PATH_CONFLICT


def test_path_source_directory_keeps_layout_and_spec_mode(tmp_path: Path, bundle_files: Path) -> None:
    tree = tmp_path / "completions"
    for rel in ("bash/crio", "zsh/_crio", "fish/crio.fish"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(rel)
        (tree / rel).chmod(0o600)
    spec = write_spec(tmp_path / "spec.toml", component(
        "completions", "completions", '[component.source.all]\npath = "completions"\n', mode="0644"))
    result = build(spec, tmp_path / "out", bundle_files, archs=("arm64",))
    with tarfile.open(result.bundles["arm64"].tarball.path) as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes["cri-o/completions/zsh/_crio"] == 0o644
    assert modes["cri-o/completions/fish/"[:-1]] == 0o755
    assert result.out_dir / tarball_name("arm64", REV) == result.bundles["arm64"].tarball.path


def test_symlink_in_path_source_is_refused(tmp_path: Path, bundle_files: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "shadow").symlink_to("/etc/shadow")
    spec = write_spec(tmp_path / "spec.toml", component("etc", "etc", '[component.source.all]\npath = "etc"\n'))
    with pytest.raises(CrioError, match=r"component etc: .*/etc/shadow is a symlink; bundles carry regular files"):
        build(spec, tmp_path / "out", bundle_files, archs=("amd64",))


def test_nix_source_from_an_existing_result(tmp_path: Path, bundle_files: Path) -> None:
    spec = write_spec(tmp_path / "spec.toml", component(
        "crio", "bin/crio", '[component.source.amd64]\nnix = "amd64"\nmember = "bin/crio"\n'))
    results = tmp_path / "results"
    fake_elf(results / "result-amd64" / "bin" / "crio", 62, b"crio")
    result = build_bundles(spec, ["amd64"], REV, tmp_path / "out", source_date_epoch=EPOCH,
                           bundle_files=bundle_files, nix_result=results)
    assert read_member(result.bundles["amd64"].tarball.path, "cri-o/bin/crio").endswith(b"crio")
    manifest = json.loads(read_member(result.bundles["amd64"].tarball.path, "cri-o/manifest.json"))
    assert manifest["components"][0]["source"] == {"kind": "nix", "nix": "amd64", "members": ["bin/crio"]}


def test_nix_source_without_the_nixbuild_module(tmp_path: Path, bundle_files: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "crio_release.build.nix", None)   # import now fails as if absent
    spec = write_spec(tmp_path / "spec.toml", component(
        "crio", "bin/crio", '[component.source.amd64]\nnix = "amd64"\nmember = "bin/crio"\n'))
    with pytest.raises(CrioError) as err:
        build(spec, tmp_path / "out", bundle_files, archs=("amd64",))
    assert err.value.exit_code == ExitCode.BUILD
    assert err.value.message == ("component crio: cannot build nix attribute amd64: "
                                 "crio_release.build.nix is missing")


def test_changed_input_changes_output(tmp_path: Path, bundle_files: Path) -> None:
    (tmp_path / "conf").write_text("one")
    spec = write_spec(tmp_path / "spec.toml", component("c", "etc/c", '[component.source.all]\npath = "conf"\n'))
    first = build(spec, tmp_path / "a", bundle_files, archs=("amd64",)).bundles["amd64"].tarball.sha256
    again = build(spec, tmp_path / "b", bundle_files, archs=("amd64",)).bundles["amd64"].tarball.sha256
    (tmp_path / "conf").write_text("two")
    changed = build(spec, tmp_path / "c", bundle_files, archs=("amd64",)).bundles["amd64"].tarball.sha256
    assert first == again != changed


def test_failed_build_keeps_earlier_outputs_untouched(tmp_path: Path, bundle_files: Path) -> None:
    (tmp_path / "conf").write_text("ok")
    good = write_spec(tmp_path / "good.toml", component("c", "etc/c", '[component.source.all]\npath = "conf"\n'))
    out = tmp_path / "out"
    first = build(good, out, bundle_files)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fake_elf(tmp_path / "x", 62)
    bad = write_spec(tmp_path / "bad.toml", component("c", "etc/c", '[component.source.all]\npath = "conf"\n')
                     + component("x", "bin/x", '[component.source.all]\npath = "x"\n'))
    with pytest.raises(CrioError):
        build(bad, out, bundle_files)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert first.manifest is not None


def test_out_path_that_is_a_file(tmp_path: Path, bundle_files: Path) -> None:
    (tmp_path / "conf").write_text("x")
    spec = write_spec(tmp_path / "spec.toml", component("c", "etc/c", '[component.source.all]\npath = "conf"\n'))
    (tmp_path / "out").write_text("a file")
    with pytest.raises(CrioError, match=r"^cannot create output directory .*/out: ") as err:
        build(spec, tmp_path / "out", bundle_files)
    assert err.value.exit_code == ExitCode.USAGE


def test_http_404_is_not_retried(tmp_path: Path, http_files: FileServer, bundle_files: Path) -> None:
    url = f"{http_files.base}/gone"
    with pytest.raises(CrioError) as err:
        build(_one_url_spec(tmp_path, url, "1" * 64), tmp_path / "out", bundle_files)
    assert err.value.message == f"component crun: {url} not found (HTTP 404)"
    assert err.value.exit_code == ExitCode.BUILD
    assert http_files.hits("/gone") == 1


def test_sbom_ids_stay_unique_for_similar_names(tmp_path: Path, bundle_files: Path) -> None:
    (tmp_path / "f").write_text("x")
    spec = write_spec(tmp_path / "spec.toml",
                      component("a+b", "etc/one", '[component.source.all]\npath = "f"\n', mode="0644")
                      + component("a-b", "etc/two", '[component.source.all]\npath = "f"\n', mode="0644")
                      + component("c", "etc/three", '[component.source.all]\npath = "f"\n', mode="0644"))
    result = build(spec, tmp_path / "out", bundle_files, archs=("amd64",))
    sbom = result.bundles["amd64"].sbom.path.read_text()
    ids = [line.split(": ", 1)[1] for line in sbom.splitlines() if line.startswith("SPDXID: SPDXRef-Package")]
    assert len(ids) == len(set(ids)) == 4
