"""HTTP(S) GET on the standard library: kept-alive connections, redirects, proxies from the environment, TLS.

Why not requests here: importing it (with urllib3, charset_normalizer, idna) cost crio-get about 30 ms
of a 0.6 s install, and crio.download needs none of what it adds beyond what follows. What an operator
relies on is kept, each piece tested in tests/get/test_fetch_transport.py:

- one connection per origin (or proxy) reused across requests, reopened when the server closed it;
- redirects (301, 302, 303, 307, 308; relative or absolute Location), at most MAX_REDIRECTS, the
  Authorization from a URL's `user:password@` dropped when a redirect leaves its origin;
- proxies from `http_proxy`, `https_proxy`, `all_proxy` (either case, lower case first; `no_proxy`
  with names, suffixes, `*` and networks such as `10.0.0.0/8`), as requests and curl read them:
  absolute-URI requests for http, CONNECT tunnels for https; a proxy
  URL's `user:password@` sent as Proxy-Authorization; http:// proxies only;
- TLS verified against the system's CA store, like curl in scripts/get (SSL_CERT_FILE / SSL_CERT_DIR
  as OpenSSL reads them), or the bundle named by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE; certifi's bundle
  only when the system has none;
- bodies as stored (Accept-Encoding: identity), and a body shorter than its Content-Length is an error
  (`ShortBody`), never a silent end.

Not read: ~/.netrc (curl does not read it without -n either).
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import ssl
import urllib.request
from collections.abc import Iterator
from urllib.parse import unquote, urljoin, urlsplit

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class ShortBody(http.client.HTTPException):
    """The connection ended before Content-Length bytes arrived."""


class TooManyRedirects(http.client.HTTPException):
    """More than MAX_REDIRECTS redirects, or a loop."""


class PermanentRequestError(ValueError):
    """A URL or proxy this client cannot use (an unsupported scheme, no host): retrying cannot help."""


def _basic(userinfo: str) -> str:
    user, _, password = userinfo.partition(":")
    return "Basic " + base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()


def _ssl_context() -> ssl.SSLContext:
    """The system's CA store (or REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE); certifi's only if the system has none."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        return ssl.create_default_context(cafile=bundle) if os.path.isfile(bundle) else \
            ssl.create_default_context(capath=bundle)
    paths = ssl.get_default_verify_paths()
    if (paths.cafile and os.path.isfile(paths.cafile)) or (paths.capath and os.path.isdir(paths.capath)):
        return ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL the environment names for `scheme`://`host`, or None (no proxy, or no_proxy matches)."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies) or \
            _in_no_proxy_network(host, proxies.get("no", "")):
        return None
    return proxy


def _in_no_proxy_network(host: str, no_proxy: str) -> bool:
    """An IP host inside a network of no_proxy (`10.0.0.0/8`), as requests and curl read it."""
    if "/" not in no_proxy:
        return False
    import ipaddress

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in no_proxy.replace(" ", "").split(","):
        if "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


class Response:
    """One response being read; `chunks` yields the body, `close` ends it (the connection is kept if it can be)."""

    def __init__(self, client: HttpClient, key: tuple[str, ...], raw: http.client.HTTPResponse) -> None:
        self._client, self._key, self.raw = client, key, raw
        self.status = raw.status
        self.headers = raw.headers

    def chunks(self, size: int) -> Iterator[bytes]:
        """The body in pieces of at most `size` bytes; ShortBody if it ends before its Content-Length."""
        expected = self.raw.length
        received = 0
        while True:
            chunk = self.raw.read(size)
            if not chunk:
                break
            received += len(chunk)
            yield chunk
        if expected is not None and received < expected:
            raise ShortBody(f"the connection closed after {received} of {expected} bytes")

    def close(self) -> None:
        """Done with it: a fully read response leaves its connection for the next request; else it is closed."""
        done = self.raw.isclosed() or self.raw.length == 0
        if not done or self.raw.will_close:
            self._client.discard(self._key)
        self.raw.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpClient:
    """GETs with a connection kept per origin (or proxy): one request at a time, as crio.download makes them."""

    def __init__(self, user_agent: str, timeout: float) -> None:
        self.user_agent = user_agent
        self.timeout = timeout
        self._connections: dict[tuple[str, ...], http.client.HTTPConnection] = {}
        self._context: ssl.SSLContext | None = None

    def close(self) -> None:
        for key in list(self._connections):
            self.discard(key)

    def discard(self, key: tuple[str, ...]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()

    def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """GET `url`, following redirects; the final response, whatever its status (the caller reads it)."""
        seen: list[str] = []
        origin = urlsplit(url)[:2]
        while True:
            parts = urlsplit(url)
            sent = dict(headers or {})
            if parts.username is not None and parts[:2] == origin:
                sent["Authorization"] = _basic(parts.netloc.rpartition("@")[0])
            response = self._request(url, sent)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            response.close()
            seen.append(url)
            url = urljoin(url, location.strip())
            if len(seen) > MAX_REDIRECTS or url in seen:
                raise TooManyRedirects(f"redirected more than {MAX_REDIRECTS} times or in a loop "
                                       f"(last: {len(seen)} redirects)")

    def _request(self, url: str, headers: dict[str, str]) -> Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentRequestError(f"unsupported URL scheme or no host: {parts.scheme}://")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        proxy = _proxy_for(parts.scheme, parts.hostname)
        host_header = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if port != (443 if parts.scheme == "https" else 80):
            host_header += f":{port}"
        all_headers = {"Host": host_header, "User-Agent": self.user_agent, "Accept-Encoding": "identity",
                       "Accept": "*/*", **headers}
        key: tuple[str, ...] = (parts.scheme, parts.hostname, str(port), proxy or "")
        target = path
        if proxy is not None and parts.scheme == "http":
            target = f"http://{host_header}{path}"     # a forwarding proxy takes the absolute URI
            proxy_auth = urlsplit(proxy)
            if proxy_auth.username is not None:
                all_headers["Proxy-Authorization"] = _basic(proxy_auth.netloc.rpartition("@")[0])
        for attempt in (1, 2):
            reused = key in self._connections
            connection = self._connection(key, parts.scheme, parts.hostname, port, proxy)
            try:
                connection.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
                for name, value in all_headers.items():
                    connection.putheader(name, value)
                connection.endheaders()
                return Response(self, key, connection.getresponse())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.discard(key)
                if not reused or attempt == 2:    # only a kept-alive connection the server closed is retried
                    raise
            except BaseException:
                self.discard(key)
                raise
        raise AssertionError("unreachable")

    def _connection(self, key: tuple[str, ...], scheme: str, host: str, port: int,
                    proxy: str | None) -> http.client.HTTPConnection:
        connection = self._connections.get(key)
        if connection is not None and _dropped(connection):
            self.discard(key)
            connection = None
        if connection is not None:
            return connection
        if proxy is not None:
            proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if proxy_parts.scheme != "http" or not proxy_parts.hostname:
                raise PermanentRequestError(f"unsupported proxy {proxy_parts.scheme}://{proxy_parts.hostname or ''}: "
                                       "only http:// proxies are supported")
            address, address_port = proxy_parts.hostname, proxy_parts.port or 80
        else:
            proxy_parts, address, address_port = None, host, port
        if scheme == "https":
            if self._context is None:
                self._context = _ssl_context()
            connection = http.client.HTTPSConnection(address, address_port, timeout=self.timeout,
                                                     context=self._context)
            if proxy_parts is not None:
                tunnel_headers = {}
                if proxy_parts.username is not None:
                    tunnel_headers["Proxy-Authorization"] = _basic(proxy_parts.netloc.rpartition("@")[0])
                connection.set_tunnel(host, port, headers=tunnel_headers)
        else:
            connection = http.client.HTTPConnection(address, address_port, timeout=self.timeout)
        self._connections[key] = connection
        return connection


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the server (readable while idle means EOF or junk)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
