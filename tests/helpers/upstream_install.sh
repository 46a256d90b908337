#!/bin/sh
# An install script shaped like upstream CRI-O's in-bundle one, for tests only.
#
# Written from the facts in ../shared/upstream-facts.md ("Upstream's in-bundle
# install script"), not from upstream's code: plain sh, stops at the first
# failure, takes no options (arguments are ignored), installs a fixed list of
# bundle paths with install(1) under the same file names, rewrites the
# default paths in the installed 10-crio.conf with DESTDIR in front (as
# upstream's does), and lists every file it wrote in $HOME/.crio-install.
# Run it from, or next to, an unpacked bundle: it reads paths relative to the
# directory it lives in. No SELinux labels.
set -e

cd "$(dirname "$0")"

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
ETCDIR=${ETCDIR:-/etc}
LIBEXECDIR=${LIBEXECDIR:-/usr/libexec}
LIBEXEC_CRIO_DIR=${LIBEXEC_CRIO_DIR:-$LIBEXECDIR/crio}
ETC_CRIO_DIR=${ETC_CRIO_DIR:-$ETCDIR/crio}
CONTAINERS_DIR=${CONTAINERS_DIR:-$ETCDIR/containers}
CONTAINERS_REGISTRIES_CONFD_DIR=${CONTAINERS_REGISTRIES_CONFD_DIR:-$CONTAINERS_DIR/registries.conf.d}
CNIDIR=${CNIDIR:-$ETCDIR/cni/net.d}
BINDIR=${BINDIR:-$PREFIX/bin}
MANDIR=${MANDIR:-$PREFIX/share/man}
OCIDIR=${OCIDIR:-$PREFIX/share/oci-umount/oci-umount.d}
BASHINSTALLDIR=${BASHINSTALLDIR:-$PREFIX/share/bash-completion/completions}
FISHINSTALLDIR=${FISHINSTALLDIR:-$PREFIX/share/fish/completions}
ZSHINSTALLDIR=${ZSHINSTALLDIR:-$PREFIX/share/zsh/site-functions}
OPT_CNI_BIN_DIR=${OPT_CNI_BIN_DIR:-/opt/cni/bin}
SYSTEMDDIR=${SYSTEMDDIR:-$PREFIX/lib/systemd/system}
if [ -z "${SYSCONFIGDIR:-}" ]; then
    if dpkg -l >/dev/null 2>&1; then SYSCONFIGDIR=/etc/default; else SYSCONFIGDIR=/etc/sysconfig; fi
fi

LIST=""

# put MODE DIR FILE...: install each bundle FILE as DIR/<its name>, below DESTDIR, and list it.
put() {
    mode=$1
    dir=$2
    shift 2
    for file in "$@"; do
        target=$DESTDIR$dir/${file##*/}
        install -D -m "$mode" "$file" "$target"
        LIST="$LIST$target
"
    done
}

main() {
    put 755 "$OPT_CNI_BIN_DIR" cni-plugins/*
    put 644 "$CNIDIR" contrib/10-crio-bridge.conflist.disabled
    put 755 "$LIBEXEC_CRIO_DIR" bin/conmon bin/conmonrs bin/crun bin/runc bin/crio-credential-provider
    put 755 "$BINDIR" bin/crio bin/pinns bin/crictl
    put 644 "$ETCDIR" etc/crictl.yaml
    put 644 "$OCIDIR" etc/crio-umount.conf
    put 644 "$SYSCONFIGDIR" etc/crio
    put 644 "$ETC_CRIO_DIR" contrib/policy.json
    put 644 "$ETC_CRIO_DIR/crio.conf.d" etc/10-crio.conf
    put 644 "$MANDIR/man5" man/crio.conf.5 man/crio.conf.d.5
    put 644 "$MANDIR/man8" man/crio.8
    put 644 "$BASHINSTALLDIR" completions/bash/crio
    put 644 "$FISHINSTALLDIR" completions/fish/crio.fish
    put 644 "$ZSHINSTALLDIR" completions/zsh/_crio
    put 644 "$SYSTEMDDIR" contrib/crio.service
    put 644 "$CONTAINERS_REGISTRIES_CONFD_DIR" contrib/registries.conf
    sed -i -e "s;/usr/bin;$DESTDIR$BINDIR;g" -e "s;/usr/libexec;$DESTDIR$LIBEXECDIR;g" \
        -e "s;/etc/crio;$DESTDIR$ETC_CRIO_DIR;g" "$DESTDIR$ETC_CRIO_DIR/crio.conf.d/10-crio.conf"
    printf '%s' "$LIST" >"$HOME/.crio-install"
}

main "$@"
