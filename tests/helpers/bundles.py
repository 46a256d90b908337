"""Real bundles for other areas' tests (installer, publisher, demo): built by crio_release.build.bundle from the embedded spec."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
from pathlib import Path

from crio_release.build.bundle import BuildResult, build_bundles

from crio.revision import Revision, parse_revision

#: A fixed mtime so helper-built bundles are byte-identical across runs.
FIXED_EPOCH = 1_700_000_000


def make_embedded_bundles(out_dir: Path, revision: Revision | str,
                          archs: tuple[str, ...] = ("amd64", "arm64"),
                          source_date_epoch: int = FIXED_EPOCH) -> BuildResult:
    """Build the embedded spec's bundles (tarball, .sha256sum, .spdx, revision manifest) into `out_dir`."""
    rev = revision if isinstance(revision, Revision) else parse_revision(revision)
    return build_bundles(None, list(archs), rev, Path(out_dir), source_date_epoch=source_date_epoch)


#: The revision and mtime the bundle area's own tests build with.
REV = parse_revision("0123456789abcdef0123456789abcdef01234567")
EPOCH = FIXED_EPOCH


def fake_elf(path: Path, machine: int, payload: bytes = b"") -> Path:
    """A 64-byte little-endian ELF64 header with the given e_machine, then `payload`."""
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4] = 2   # ELFCLASS64
    header[5] = 1   # little endian
    header[6] = 1   # EV_CURRENT
    header[16:18] = (2).to_bytes(2, "little")   # ET_EXEC
    header[18:20] = machine.to_bytes(2, "little")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(header) + payload)
    return path


def write_minimal_bundle_files(root: Path) -> Path:
    """Minimal install/Makefile/README.md so builder tests do not depend on the shipped ones."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "install").write_text("#!/usr/bin/env bash\necho install\n")
    (root / "Makefile").write_text("all:\n\t./install\n")
    (root / "README.md").write_text("# cri-o\n")
    return root


def write_spec(path: Path, body: str) -> Path:
    """A spec file: `schema = 1` and then `body`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("schema = 1\n" + body)
    return path


def make_tgz(path: Path, members: dict[str, bytes]) -> bytes:
    """A .tar.gz with regular files `members`; returns its bytes."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes]
    failures: dict[str, int]
    hits: dict[str, int]

    def do_GET(self) -> None:
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        status, data = 200, self.files.get(self.path)
        if self.failures.get(self.path, 0) > 0:
            self.failures[self.path] -= 1
            status, data = 503, b""
        elif data is None:
            status, data = 404, b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class FileServer:
    """A real HTTP server on 127.0.0.1 serving in-memory files, with injectable 503s."""

    def __init__(self) -> None:
        self.handler = type("Handler", (_Handler,), {"files": {}, "failures": {}, "hits": {}})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, path: str, data: bytes, fail_first: int = 0) -> str:
        """Serve `data` at `path` (after `fail_first` 503 answers); returns the URL."""
        self.handler.files[path] = data
        self.handler.failures[path] = fail_first
        return self.base + path

    def hits(self, path: str) -> int:
        return self.handler.hits.get(path, 0)
