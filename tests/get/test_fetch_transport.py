"""What Fetcher's transport does that an operator relies on: redirects, HTTPS trust from the environment,
proxies from the environment, persistent connections, and the User-Agent sent.

Written against Fetcher's public API only (read_small, stream, RetryPolicy, NotFound, DownloadFailed), so the
same tests hold for any transport behind it. Real servers on 127.0.0.1 only: FaultServer / TLSFaultServer
(tests/helpers/http_server.py), ForwardProxy (tests/helpers/forward_proxy.py), a throwaway CA made here.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.forward_proxy import ForwardProxy
from helpers.http_server import FaultServer, TLSFaultServer
from helpers.throwaway_ca import ServerCert, make_ca

from crio.download import DownloadFailed, Fetcher, NotFound, RetryPolicy

BLOB = bytes(range(256)) * 4096 * 3          # 3 MiB: several chunks, several socket reads
SMALL = {f"/small{i}.txt": f"v1.{i}.0\n".encode() for i in range(5)}
REDIRECTS = (301, 302, 303, 307, 308)
#: Every variable that could steer TLS trust or proxies; each test starts with none of them set.
TRANSPORT_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                 "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
CERT_FAILURE = re.compile(r"certificate verif", re.IGNORECASE)


def quick(attempts: int = 1) -> RetryPolicy:
    return RetryPolicy(timeout=5, attempts=attempts, delay=0)


@dataclass(frozen=True)
class PKI:
    ca_pem: Path
    other_ca_pem: Path         # a second CA that signed nothing the servers present
    server: ServerCert         # issued by ca_pem for IP 127.0.0.1
    wrong_name: ServerCert     # issued by ca_pem for IP 127.0.0.2 only


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    other = make_ca(directory / "other", "crio-other-ca")
    return PKI(ca.ca_pem, other.ca_pem, ca.issue(directory, "server-127.0.0.1", ["127.0.0.1"]),
               ca.issue(directory, "server-127.0.0.2", ["127.0.0.2"]))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TRANSPORT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "blob").write_bytes(BLOB)
    for path, data in SMALL.items():
        (tmp_path / path.lstrip("/")).write_bytes(data)
    return tmp_path


@pytest.fixture
def server(root: Path) -> Iterator[FaultServer]:
    with FaultServer(root) as running:
        yield running


@pytest.fixture
def tls_server(root: Path, pki: PKI) -> Iterator[TLSFaultServer]:
    with TLSFaultServer(root, pki.server.context()) as running:
        yield running


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


def streamed(fetcher: Fetcher, url: str) -> tuple[bytes, list[int | None]]:
    lengths: list[int | None] = []
    data = b"".join(fetcher.stream(url, lengths.append))
    return data, lengths


def ranges_of(server: FaultServer, path: str) -> list[str | None]:
    return [r for p, r, _f in server.requests if p == path]


# --- redirects -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", REDIRECTS)
@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_redirect_is_followed(server: FaultServer, code: int, absolute: bool) -> None:
    base = server.url if absolute else ""
    server.fault("/marker", f"redirect:{code}:{base}/small1.txt", None)
    server.fault("/bundle", f"redirect:{code}:{base}/blob", None)
    fetcher = Fetcher(quick())
    assert fetcher.read_small(f"{server.url}/marker") == SMALL["/small1.txt"]
    data, lengths = streamed(fetcher, f"{server.url}/bundle")
    assert data == BLOB
    assert lengths == [len(BLOB)], "the length announced is the target's, not the redirect's"
    assert server.hits("/marker") == 1 and server.hits("/bundle") == 1


@pytest.mark.parametrize("code", REDIRECTS)
def test_redirect_to_another_server(root: Path, server: FaultServer, code: int) -> None:
    other_root = root / "mirror"
    other_root.mkdir()
    (other_root / "blob").write_bytes(BLOB[::-1])
    (other_root / "marker").write_bytes(b"v9.9.9\n")
    with FaultServer(other_root) as mirror:
        server.fault("/blob", f"redirect:{code}:{mirror.url}/blob", None)
        server.fault("/marker", f"redirect:{code}:{mirror.url}/marker", None)
        fetcher = Fetcher(quick())
        assert fetcher.read_small(f"{server.url}/marker") == b"v9.9.9\n"
        data, _lengths = streamed(fetcher, f"{server.url}/blob")
        assert data == BLOB[::-1], "the bytes are the redirect target's"
        assert mirror.hits("/blob") == 1 and mirror.hits("/marker") == 1


@pytest.mark.parametrize("loop", [["/a", "/a"], ["/a", "/b", "/a"]], ids=["self", "two"])
def test_redirect_loop_fails_bounded(server: FaultServer, loop: list[str]) -> None:
    for source, target in itertools.pairwise(loop):
        server.fault(source, f"redirect:302:{target}", None)
    with pytest.raises(DownloadFailed) as info:
        Fetcher(quick(attempts=2)).read_small(f"{server.url}/a")
    assert "/a" in str(info.value)
    hops = len(server.requests)
    assert 2 <= hops <= 2 * 31, f"{hops} requests for 2 attempts: the redirects must be bounded (<= 30 a try)"


@pytest.mark.parametrize("code", REDIRECTS)
def test_redirect_to_missing_is_not_found(server: FaultServer, code: int) -> None:
    server.fault("/latest-1.99.txt", f"redirect:{code}:/missing.txt", None)
    fetcher = Fetcher(quick(attempts=3))
    with pytest.raises(NotFound):
        fetcher.read_small(f"{server.url}/latest-1.99.txt")
    with pytest.raises(NotFound):
        list(fetcher.stream(f"{server.url}/latest-1.99.txt"))
    assert server.hits("/missing.txt") == 2, "a 404 behind a redirect is final: no retry"


@pytest.mark.parametrize("code", REDIRECTS)
@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_resume_through_redirect_yields_each_byte_once(server: FaultServer, code: int, fault: str) -> None:
    server.fault("/link", f"redirect:{code}:/blob", None)
    server.fault("/blob", fault)
    messages: list[str] = []
    data, lengths = streamed(Fetcher(quick(attempts=3), messages.append), f"{server.url}/link")
    assert hashlib.sha256(data).digest() == hashlib.sha256(BLOB).digest() and len(data) == len(BLOB)
    assert lengths == [len(BLOB)]
    blob_ranges = ranges_of(server, "/blob")
    assert len(blob_ranges) == 2 and blob_ranges[0] is None
    assert len(messages) == 1 and "retrying" in messages[0]
    if fault == "truncate":   # after a reset the bytes not yet read are lost: the resume may start at 0
        assert blob_ranges[1] is not None and blob_ranges[1].startswith("bytes="), "the Range survives redirects"


# --- HTTPS -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_https_trusts_the_ca_bundle_from_env(tls_server: TLSFaultServer, pki: PKI, variable: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, str(pki.ca_pem))
    fetcher = Fetcher(quick())
    assert tls_server.url.startswith("https://")
    assert fetcher.read_small(f"{tls_server.url}/small0.txt") == SMALL["/small0.txt"]
    data, lengths = streamed(fetcher, f"{tls_server.url}/blob")
    assert data == BLOB and lengths == [len(BLOB)]
    assert tls_server.handshake_errors == []


def test_https_requests_ca_bundle_wins_over_curl_ca_bundle(tls_server: TLSFaultServer, pki: PKI,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_pem))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(pki.other_ca_pem))
    assert Fetcher(quick()).read_small(f"{tls_server.url}/small2.txt") == SMALL["/small2.txt"]


def test_https_trusts_ssl_cert_file(tls_server: TLSFaultServer, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The system's CA store as OpenSSL finds it, SSL_CERT_FILE included: what curl in scripts/get trusts too
    (requests trusted certifi's bundle instead and ignored SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_pem))
    data, _lengths = streamed(Fetcher(quick()), f"{tls_server.url}/blob")
    assert data == BLOB


def test_https_without_the_ca_fails_on_verification(tls_server: TLSFaultServer) -> None:
    with pytest.raises(DownloadFailed) as info:
        list(Fetcher(quick(attempts=2)).stream(f"{tls_server.url}/blob"))
    assert CERT_FAILURE.search(str(info.value)), str(info.value)
    assert tls_server.requests == [], "no request may be sent over an unverified connection"


def test_https_with_another_ca_fails(tls_server: TLSFaultServer, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca_pem))
    with pytest.raises(DownloadFailed) as info:
        Fetcher(quick()).read_small(f"{tls_server.url}/small0.txt")
    assert CERT_FAILURE.search(str(info.value)), str(info.value)
    assert tls_server.requests == []


def test_https_certificate_for_another_name_fails(root: Path, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_pem))
    with TLSFaultServer(root, pki.wrong_name.context()) as wrong:
        with pytest.raises(DownloadFailed) as info:
            list(Fetcher(quick(attempts=2)).stream(f"{wrong.url}/blob"))
        assert CERT_FAILURE.search(str(info.value)), str(info.value)
        assert wrong.requests == []


def test_https_redirect_and_resume(tls_server: TLSFaultServer, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_pem))
    tls_server.fault("/link", "redirect:302:/blob", None)
    tls_server.fault("/blob", "truncate")
    data, _lengths = streamed(Fetcher(quick(attempts=2)), f"{tls_server.url}/link")
    assert data == BLOB
    assert ranges_of(tls_server, "/blob")[1] is not None


# --- proxies ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_http_download_goes_through_the_proxy(server: FaultServer, proxy: ForwardProxy, variable: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, proxy.url)
    fetcher = Fetcher(quick(), user_agent="crio-get/proxied")
    assert fetcher.read_small(f"{server.url}/small3.txt") == SMALL["/small3.txt"]
    data, lengths = streamed(fetcher, f"{server.url}/blob")
    assert data == BLOB and lengths == [len(BLOB)]
    assert proxy.lines == [f"GET {server.url}/small3.txt HTTP/1.1", f"GET {server.url}/blob HTTP/1.1"]
    assert [h.get("User-Agent") for _p, h in server.request_headers] == ["crio-get/proxied"] * 2


def test_proxy_without_a_scheme_is_http(server: FaultServer, proxy: ForwardProxy,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url.removeprefix("http://"))   # 127.0.0.1:PORT, as curl accepts
    assert Fetcher(quick()).read_small(f"{server.url}/small2.txt") == SMALL["/small2.txt"]
    assert proxy.lines == [f"GET {server.url}/small2.txt HTTP/1.1"]


def test_lower_case_proxy_variable_wins(server: FaultServer, proxy: ForwardProxy,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")   # discard port: nothing listens there
    monkeypatch.setenv("http_proxy", proxy.url)
    assert Fetcher(quick()).read_small(f"{server.url}/small0.txt") == SMALL["/small0.txt"]
    assert proxy.lines == [f"GET {server.url}/small0.txt HTTP/1.1"]


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_https_download_goes_through_connect(tls_server: TLSFaultServer, proxy: ForwardProxy, pki: PKI,
                                             variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_pem))
    monkeypatch.setenv(variable, proxy.url)
    data, _lengths = streamed(Fetcher(quick()), f"{tls_server.url}/blob")
    assert data == BLOB
    assert proxy.lines and all(line.startswith(f"CONNECT 127.0.0.1:{tls_server.port} ") for line in proxy.lines)
    assert tls_server.hits("/blob") == 1


def test_http_proxy_is_not_used_for_https(tls_server: TLSFaultServer, proxy: ForwardProxy, pki: PKI,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_pem))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert Fetcher(quick()).read_small(f"{tls_server.url}/small1.txt") == SMALL["/small1.txt"]
    assert proxy.lines == []


@pytest.mark.parametrize(("variable", "value"), [
    ("NO_PROXY", "127.0.0.1"),
    ("no_proxy", "127.0.0.1"),
    ("NO_PROXY", "mirror.example.invalid, 127.0.0.1 ,localhost"),
    ("NO_PROXY", "127.0.0.0/8"),
    ("NO_PROXY", "*"),
])
def test_no_proxy_bypasses_the_proxy(server: FaultServer, proxy: ForwardProxy, variable: str, value: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv(variable, value)
    data, _lengths = streamed(Fetcher(quick()), f"{server.url}/blob")
    assert data == BLOB
    assert proxy.lines == []
    assert server.hits("/blob") == 1


def test_no_proxy_bypasses_the_https_proxy(tls_server: TLSFaultServer, proxy: ForwardProxy, pki: PKI,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_pem))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    assert Fetcher(quick()).read_small(f"{tls_server.url}/small3.txt") == SMALL["/small3.txt"]
    assert proxy.lines == []


def test_no_proxy_for_another_host_keeps_the_proxy(server: FaultServer, proxy: ForwardProxy,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.2,mirror.example.invalid")
    assert Fetcher(quick()).read_small(f"{server.url}/small4.txt") == SMALL["/small4.txt"]
    assert proxy.lines == [f"GET {server.url}/small4.txt HTTP/1.1"]


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_proxy_failing_mid_body_resumes(server: FaultServer, proxy: ForwardProxy, reset: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    proxy.cut_after(len(BLOB) // 3 + 7, reset)
    messages: list[str] = []
    data, lengths = streamed(Fetcher(quick(attempts=3), messages.append), f"{server.url}/blob")
    assert len(data) == len(BLOB) and data == BLOB, "each byte once, in order"
    assert lengths == [len(BLOB)]
    assert proxy.lines == [f"GET {server.url}/blob HTTP/1.1"] * 2
    blob_ranges = ranges_of(server, "/blob")
    assert blob_ranges[0] is None
    if not reset:   # a cleanly cut body arrives up to the cut: the resume asks for the rest
        assert blob_ranges[1] is not None, "the resume's Range went through the proxy"
    assert len(messages) == 1


# --- persistent connections ------------------------------------------------------------------------------

@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_connections_are_reused(root: Path, pki: PKI, tls: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_pem))
    running = TLSFaultServer(root, pki.server.context(), keep_alive=True) if tls else FaultServer(root, True)
    with running as keeping:
        fetcher = Fetcher(quick())
        for path, data in SMALL.items():
            assert fetcher.read_small(f"{keeping.url}{path}") == data
        assert keeping.connections < len(SMALL), f"{keeping.connections} connections for {len(SMALL)} reads"
        before = keeping.connections
        data, _lengths = streamed(fetcher, f"{keeping.url}/blob")
        assert data == BLOB
        assert keeping.connections <= before + 1


def test_server_closing_a_kept_alive_connection(root: Path) -> None:
    with FaultServer(root, keep_alive=True) as keeping:
        keeping.fault("/small0.txt", "close")
        messages: list[str] = []
        fetcher = Fetcher(quick(), messages.append)
        assert fetcher.read_small(f"{keeping.url}/small0.txt") == SMALL["/small0.txt"]
        assert keeping.wait_closed(), "the server dropped the connection"
        assert fetcher.read_small(f"{keeping.url}/small1.txt") == SMALL["/small1.txt"]
        data, _lengths = streamed(fetcher, f"{keeping.url}/blob")
        assert data == BLOB
        assert messages == [], "a dropped idle connection is reopened quietly, not retried"
        assert keeping.closes == 1 and keeping.connections == 2


# --- User-Agent ------------------------------------------------------------------------------------------

def test_user_agent_is_the_one_given(server: FaultServer) -> None:
    agent = "crio-get/1.99.0 (linux; amd64)"
    server.fault("/link", "redirect:302:/blob", None)
    fetcher = Fetcher(quick(), user_agent=agent)
    fetcher.read_small(f"{server.url}/small0.txt")
    assert b"".join(fetcher.stream(f"{server.url}/link")) == BLOB
    seen = [(path, headers.get("User-Agent")) for path, headers in server.request_headers]
    assert seen == [("/small0.txt", agent), ("/link", agent), ("/blob", agent)]


# --- what the standard-library transport adds on top of the above -----------------------------------------------


def _authorization(server: FaultServer, path: str) -> str | None:
    seen = {name.lower(): value for p, headers in server.request_headers if p == path
            for name, value in headers.items()}
    return seen.get("authorization")


def test_credentials_in_the_url_are_sent_to_that_origin_only(root: Path, server: FaultServer) -> None:
    """`https://user:token@mirror/` authenticates to the mirror (as curl does in scripts/get), and a redirect
    to another origin does not carry the credentials along."""
    base = server.url.replace("http://", "http://crio:s3cret%21@")
    assert Fetcher(quick()).read_small(f"{base}/small0.txt") == SMALL["/small0.txt"]
    assert _authorization(server, "/small0.txt") == "Basic Y3JpbzpzM2NyZXQh"    # crio:s3cret!
    with FaultServer(root) as other:
        server.fault("/small1.txt", f"redirect:302:{other.url}/small2.txt")
        assert Fetcher(quick()).read_small(f"{base}/small1.txt") == SMALL["/small2.txt"]
        assert _authorization(server, "/small1.txt") is not None
        assert _authorization(other, "/small2.txt") is None


@pytest.mark.parametrize("proxy_url", ["socks5://127.0.0.1:1080", "https://127.0.0.1:3128"])
def test_an_unsupported_proxy_fails_at_once_naming_it(server: FaultServer, proxy_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy scheme this transport cannot speak is a setting to fix, not a failure to retry: one attempt,
    one message, and nothing is sent around the proxy."""
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    with pytest.raises(DownloadFailed, match="only http:// proxies are supported") as info:
        Fetcher(RetryPolicy(timeout=5, attempts=5, delay=5)).read_small(f"{server.url}/small0.txt")
    assert "attempts" not in str(info.value)
    assert server.connections == 0


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/x"])
def test_a_hostile_redirect_to_another_scheme_reads_nothing_local(server: FaultServer, location: str) -> None:
    """A mirror answering with a redirect to file:// (or any scheme but http/https) must not make the installer
    read a local file: the download fails at once, naming the unsupported scheme."""
    server.fault("/small0.txt", f"redirect:302:{location}")
    with pytest.raises(DownloadFailed, match="unsupported URL scheme") as info:
        Fetcher(RetryPolicy(timeout=5, attempts=3, delay=0)).read_small(f"{server.url}/small0.txt")
    assert "root:" not in str(info.value)
    assert server.hits("/small0.txt") == 1
