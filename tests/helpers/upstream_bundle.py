"""Upstream-layout test bundles: an install script written from ../shared/upstream-facts.md, not upstream's code.

Like upstream's `templates/latest/cri-o/bundle/install` it is plain sh with
`set -e`, takes no options (its arguments are ignored: `install --list`
installs), honours DESTDIR, PREFIX, ETCDIR, LIBEXECDIR, LIBEXEC_CRIO_DIR,
ETC_CRIO_DIR, BINDIR, MANDIR, ... , puts `$DESTDIR$BINDIR`-style paths into
the installed `10-crio.conf` (DESTDIR leaks into the config), and writes the
DESTDIR-prefixed list of what it installed to `$HOME/.crio-install`.
`fail_after=N` makes it exit 1 after N files; UPSTREAM_ARGS_LOG=FILE makes it log its arguments
(the tests show it is never run with any).
"""

from __future__ import annotations

from pathlib import Path

from crio.artifacts import tarball_name
from helpers.get_fixtures import write_side_files, write_tarball

UPSTREAM_INSTALL = r"""#!/bin/sh
set -e
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
ETCDIR=${ETCDIR:-/etc}
LIBEXECDIR=${LIBEXECDIR:-/usr/libexec}
LIBEXEC_CRIO_DIR=${LIBEXEC_CRIO_DIR:-$LIBEXECDIR/crio}
ETC_CRIO_DIR=${ETC_CRIO_DIR:-$ETCDIR/crio}
BINDIR=${BINDIR:-$PREFIX/bin}
MANDIR=${MANDIR:-$PREFIX/share/man}
CNIDIR=${CNIDIR:-$ETCDIR/cni/net.d}
OPT_CNI_BIN_DIR=${OPT_CNI_BIN_DIR:-/opt/cni/bin}
ZSHINSTALLDIR=${ZSHINSTALLDIR:-$PREFIX/share/zsh/site-functions}
SYSTEMDDIR=${SYSTEMDDIR:-$PREFIX/lib/systemd/system}
FAIL_AFTER=__FAIL_AFTER__
[ -z "${UPSTREAM_ARGS_LOG:-}" ] || printf '[%s]\n' "$*" >>"$UPSTREAM_ARGS_LOG"
n=0
LIST=""
put() {  # put MODE SOURCE DIR
    if [ "$FAIL_AFTER" -ge 0 ] && [ "$n" -ge "$FAIL_AFTER" ]; then echo "install: simulated failure" >&2; exit 1; fi
    mkdir -p "$DESTDIR$3"
    install -m "$1" "$2" "$DESTDIR$3/"
    LIST="$LIST$DESTDIR$3/$(basename "$2")
"
    n=$((n + 1))
}
put 755 bin/crio "$BINDIR"
put 755 bin/pinns "$BINDIR"
put 755 bin/conmon "$LIBEXEC_CRIO_DIR"
put 755 bin/runc "$LIBEXEC_CRIO_DIR"
mkdir -p "$DESTDIR$OPT_CNI_BIN_DIR"
for f in cni-plugins/*; do install -m 755 "$f" "$DESTDIR$OPT_CNI_BIN_DIR/"; done
put 644 contrib/policy.json "$ETC_CRIO_DIR"
put 644 contrib/10-crio-bridge.conflist.disabled "$CNIDIR"
put 644 etc/10-crio.conf "$ETC_CRIO_DIR/crio.conf.d"
put 644 man/crio.8 "$MANDIR/man8"
put 644 contrib/crio.service "$SYSTEMDDIR"
if [ -f completions/zsh/_crio ]; then put 644 completions/zsh/_crio "$ZSHINSTALLDIR"; fi
sed -i -e "s,/usr/bin,$DESTDIR$BINDIR,g" -e "s,/usr/libexec,$DESTDIR$LIBEXECDIR,g" \
    -e "s,/etc/crio,$DESTDIR$ETC_CRIO_DIR,g" "$DESTDIR$ETC_CRIO_DIR/crio.conf.d/10-crio.conf"
printf '%s' "$LIST" >"$HOME/.crio-install"
printf '%s\n' "$DESTDIR$OPT_CNI_BIN_DIR/*" >>"$HOME/.crio-install"   # a literal glob, as upstream's
"""

#: The drop-in as upstream ships it, before its install script seds DESTDIR and the real dirs into it.
CRIO_CONF = b"""[crio.runtime]
default_runtime = "runc"
[crio.runtime.runtimes.runc]
runtime_path = "/usr/libexec/crio/runc"
monitor_path = "/usr/libexec/crio/conmon"
[crio.api]
listen = "/var/run/crio/crio.sock"
[crio.image]
signature_policy = "/etc/crio/policy.json"
"""


def upstream_files(revision: str, fail_after: int = -1, zsh: bool = False) -> dict[str, tuple[bytes, int]]:
    """The files of an upstream-layout bundle below cri-o/: name -> (bytes, mode). No manifest.json, no record."""
    files = {
        "install": (UPSTREAM_INSTALL.replace("__FAIL_AFTER__", str(fail_after)).encode(), 0o755),
        "bin/crio": (f"#!/bin/sh\necho crio {revision}\n".encode(), 0o755),
        "bin/pinns": (f"pinns {revision}\n".encode(), 0o755),
        "bin/conmon": (f"conmon {revision}\n".encode(), 0o755),
        "bin/runc": (f"runc {revision}\n".encode(), 0o755),
        "cni-plugins/bridge": (f"bridge {revision}\n".encode(), 0o755),
        "contrib/policy.json": (b'{"default": [{"type": "insecureAcceptAnything"}]}\n', 0o644),
        "contrib/10-crio-bridge.conflist.disabled": (f'{{"name": "crio", "v": "{revision}"}}\n'.encode(), 0o644),
        "contrib/crio.service": (f"[Service]\nExecStart=/usr/local/bin/crio\n# {revision}\n".encode(), 0o644),
        "etc/10-crio.conf": (CRIO_CONF + f"# {revision}\n".encode(), 0o644),
        "man/crio.8": (f".TH CRIO 8 {revision}\n".encode(), 0o644),
    }
    if zsh:
        files["completions/zsh/_crio"] = (f"#compdef crio {revision}\n".encode(), 0o644)
    return files


def write_upstream_bundle(directory: Path, arch: str, revision: str, *, fail_after: int = -1,
                          zsh: bool = False) -> Path:
    """An upstream-layout bundle tarball with its `.sha256sum` in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = write_tarball(directory / tarball_name(arch, revision), upstream_files(revision, fail_after, zsh))
    write_side_files(path)
    return path


#: What UPSTREAM_INSTALL writes, below DESTDIR (without the zsh completion).
UPSTREAM_INSTALLED = (
    "usr/local/bin/crio", "usr/local/bin/pinns", "usr/libexec/crio/conmon", "usr/libexec/crio/runc",
    "opt/cni/bin/bridge", "etc/crio/policy.json", "etc/cni/net.d/10-crio-bridge.conflist.disabled",
    "etc/crio/crio.conf.d/10-crio.conf", "usr/local/share/man/man8/crio.8", "usr/local/lib/systemd/system/crio.service",
)
