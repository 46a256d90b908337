"""Upstream's bundle layout: the paths upstream's in-bundle install script reads, and where each goes.

Why it is written down: upstream's `get` does not run the bundle's own
install script but a copy it embeds, which installs a fixed list of bundle
paths with `set -e`. A bundle missing one of them fails that install half-way,
so every bundle we publish for the official layout must hold them all (the
builder refuses a spec that does not: crio_release.build.layout), and our own
install script puts each one where upstream's does (tests/bundle_install hold
both to this table). Facts from ../shared/upstream-facts.md, "Upstream's
in-bundle install script".
"""

from __future__ import annotations

from collections.abc import Iterable

#: Bundle path (below cri-o/) -> the path variable of the directory upstream's script installs it into,
#: under the same file name. A path ending in `/` is a directory whose every file is installed.
UPSTREAM_INSTALL_READS: dict[str, str] = {
    "bin/crio": "BINDIR",
    "bin/pinns": "BINDIR",
    "bin/crictl": "BINDIR",
    "bin/conmon": "LIBEXEC_CRIO_DIR",
    "bin/conmonrs": "LIBEXEC_CRIO_DIR",
    "bin/crun": "LIBEXEC_CRIO_DIR",
    "bin/runc": "LIBEXEC_CRIO_DIR",
    "bin/crio-credential-provider": "LIBEXEC_CRIO_DIR",
    "cni-plugins/": "OPT_CNI_BIN_DIR",
    "contrib/10-crio-bridge.conflist.disabled": "CNIDIR",
    "contrib/policy.json": "ETC_CRIO_DIR",
    "contrib/crio.service": "SYSTEMDDIR",
    "contrib/registries.conf": "CONTAINERS_REGISTRIES_CONFD_DIR",
    "etc/10-crio.conf": "ETC_CRIO_DIR/crio.conf.d",
    "etc/crictl.yaml": "ETCDIR",
    "etc/crio-umount.conf": "OCIDIR",
    "etc/crio": "SYSCONFIGDIR",
    "man/crio.8": "MANDIR/man8",
    "man/crio.conf.5": "MANDIR/man5",
    "man/crio.conf.d.5": "MANDIR/man5",
    "completions/bash/crio": "BASHINSTALLDIR",
    "completions/fish/crio.fish": "FISHINSTALLDIR",
    "completions/zsh/_crio": "ZSHINSTALLDIR",
}

#: Upstream's default value of every install path variable (crio.artifacts.INSTALL_PATH_VARIABLES; SYSCONFIGDIR
#: is its default where dpkg is absent). A bundle file that names paths as @VAR@ ships rendered with these at
#: its own path, which upstream's install script copies verbatim, and as written below TEMPLATES_DIR, which
#: our install script renders with the node's real values.
UPSTREAM_DEFAULT_PATHS: dict[str, str] = {
    "PREFIX": "/usr/local", "ETCDIR": "/etc", "LIBEXECDIR": "/usr/libexec", "LIBEXEC_CRIO_DIR": "/usr/libexec/crio",
    "ETC_CRIO_DIR": "/etc/crio", "CONTAINERS_DIR": "/etc/containers",
    "CONTAINERS_REGISTRIES_CONFD_DIR": "/etc/containers/registries.conf.d", "CNIDIR": "/etc/cni/net.d",
    "BINDIR": "/usr/local/bin", "MANDIR": "/usr/local/share/man", "OCIDIR": "/usr/local/share/oci-umount/oci-umount.d",
    "BASHINSTALLDIR": "/usr/local/share/bash-completion/completions",
    "FISHINSTALLDIR": "/usr/local/share/fish/completions", "ZSHINSTALLDIR": "/usr/local/share/zsh/site-functions",
    "OPT_CNI_BIN_DIR": "/opt/cni/bin", "SYSTEMDDIR": "/usr/local/lib/systemd/system", "SYSCONFIGDIR": "/etc/sysconfig",
    "STATEDIR": "/var/lib/crio-install",
}
#: Where a bundle keeps the @VAR@ templates of files it also ships rendered with the defaults.
TEMPLATES_DIR = "templates"


def render_defaults(data: bytes) -> bytes:
    """`data` with every @VAR@ of UPSTREAM_DEFAULT_PATHS replaced by its default value."""
    for var, value in UPSTREAM_DEFAULT_PATHS.items():
        data = data.replace(f"@{var}@".encode(), value.encode())
    return data


#: The binaries upstream keeps off $PATH, in LIBEXEC_CRIO_DIR (our install script's rule for bin/ names these).
LIBEXEC_CRIO_BINARIES: tuple[str, ...] = tuple(
    path.removeprefix("bin/") for path, var in UPSTREAM_INSTALL_READS.items() if var == "LIBEXEC_CRIO_DIR")


def missing_upstream_paths(bundle_paths: Iterable[str]) -> list[str]:
    """The paths of UPSTREAM_INSTALL_READS that `bundle_paths` (files below cri-o/) does not provide.

    A directory entry (`cni-plugins/`) is provided by at least one file directly in it.
    """
    have = set(bundle_paths)
    missing = []
    for path in UPSTREAM_INSTALL_READS:
        if path.endswith("/"):
            if not any(p.startswith(path) and "/" not in p[len(path):] for p in have):
                missing.append(path)
        elif path not in have:
            missing.append(path)
    return missing


def upstream_destination(path: str, variables: dict[str, str]) -> str:
    """Where upstream's script installs bundle file `path` (not a directory entry), with `variables`' values."""
    var, _, sub = UPSTREAM_INSTALL_READS[path].partition("/")
    directory = variables[var] + (f"/{sub}" if sub else "")
    return f"{directory}/{path.rsplit('/', 1)[-1]}"
