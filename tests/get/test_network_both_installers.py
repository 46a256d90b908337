"""The README's "network as curl sees it, in both installers": a whole install from an https mirror, with the
CA and the proxy given the way an operator gives them to curl, by scripts/get (curl) and crio-get
(crio/http_get.py) alike; without the CA neither installs anything. Real servers on 127.0.0.1: a TLS
FaultServer with a throwaway CA, and a forward proxy that records what it relayed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.forward_proxy import ForwardProxy
from helpers.get_fixtures import INSTALLERS, lay_out_bucket, run_get, write_bundle
from helpers.http_server import TLSFaultServer
from helpers.throwaway_ca import ServerCert, make_ca

from crio.errors import ExitCode

REVISION = "v1.30.0"
PROXY_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
             "no_proxy")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ServerCert]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    return ca.ca_pem, ca.issue(directory, "mirror", ["127.0.0.1"])


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, ServerCert]) -> Iterator[TLSFaultServer]:
    work = tmp_path_factory.mktemp("mirror")
    bucket = lay_out_bucket(work / "bucket", [write_bundle(work / "build", "amd64", REVISION)])
    with TLSFaultServer(bucket, pki[1].context(), keep_alive=True) as server:
        yield server


@pytest.fixture(autouse=True)
def no_proxy_from_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


def _install(installer: str, mirror: TLSFaultServer, tmp_path: Path, env: dict[str, str]):
    dest = tmp_path / "root"
    result = run_get(installer, ["-a", "amd64", "-t", REVISION, "--url", mirror.url], destdir=dest,
                     tmpdir=tmp_path / "tmp", env=env)
    return result, dest


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("variable", ["CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_an_https_mirror_with_its_ca_from_the_environment(installer: str, variable: str, mirror: TLSFaultServer,
                                                          pki: tuple[Path, ServerCert], tmp_path: Path) -> None:
    result, dest = _install(installer, mirror, tmp_path, {variable: str(pki[0])})
    assert result.returncode == 0, result.stderr
    assert (dest / "usr/local/bin/crio").is_file()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_https_mirror_whose_ca_is_not_trusted_installs_nothing(installer: str, mirror: TLSFaultServer,
                                                                  tmp_path: Path) -> None:
    result, dest = _install(installer, mirror, tmp_path, {})
    assert result.returncode == ExitCode.DOWNLOAD, result.stderr
    assert not (dest / "usr").exists()


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_an_https_mirror_through_a_proxy_from_the_environment(installer: str, variable: str,
                                                             mirror: TLSFaultServer, pki: tuple[Path, ServerCert],
                                                             tmp_path: Path) -> None:
    port = mirror.url.rsplit(":", 1)[1]
    with ForwardProxy() as proxy:
        result, dest = _install(installer, mirror, tmp_path, {"CURL_CA_BUNDLE": str(pki[0]), variable: proxy.url})
        lines = list(proxy.lines)
    assert result.returncode == 0, result.stderr
    assert (dest / "usr/local/bin/crio").is_file()
    assert lines and all(line.startswith(f"CONNECT 127.0.0.1:{port} ") for line in lines), lines


@pytest.mark.parametrize("installer", INSTALLERS)
def test_no_proxy_sends_the_mirror_around_the_proxy(installer: str, mirror: TLSFaultServer,
                                                     pki: tuple[Path, ServerCert], tmp_path: Path) -> None:
    with ForwardProxy() as proxy:
        result, dest = _install(installer, mirror, tmp_path, {"CURL_CA_BUNDLE": str(pki[0]),
                                                              "HTTPS_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"})
        lines = list(proxy.lines)
    assert result.returncode == 0, result.stderr
    assert (dest / "usr/local/bin/crio").is_file()
    assert lines == []
