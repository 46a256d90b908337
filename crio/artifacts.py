"""The bucket contract: artifact names, side files, markers and URLs.

Every other module (bundle builder, publisher, both installers, release
notes) asks this module for a name or a URL; none spells one itself.
`scripts/get` keeps a bash copy of these rules, checked against this module
by tests/get/test_get_contract.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from crio.arch import normalize_arch
from crio.errors import CrioError, UnsupportedArchitecture, UsageError
from crio.revision import Revision, Version, parse_minor_series, parse_revision

#: Folder of the bucket that holds every artifact.
ARTIFACTS_DIR = "artifacts"
#: Bucket published by the CRI-O project.
DEFAULT_BUCKET = "cri-o"
#: Public endpoint of Google Cloud Storage; objects are read path-style from it.
GCS_PUBLIC_ENDPOINT = "https://storage.googleapis.com"
#: Top directory inside every bundle, and the in-bundle names get relies on.
BUNDLE_TOP = "cri-o"
BUNDLE_MANIFEST = "manifest.json"
BUNDLE_INSTALL_SCRIPT = "install"

#: Side files written beside each tarball, by suffix.
CHECKSUM_SUFFIX = ".sha256sum"
SIGNATURE_SUFFIX = ".sig"
#: A Sigstore bundle (keyless signature with its certificate and log evidence), as cosign v3 writes it.
SIGSTORE_BUNDLE_SUFFIX = ".bundle"
#: cosign's `--output-certificate` beside a keyless `.sig` (older upstream revisions).
CERTIFICATE_SUFFIX = ".cert"
SBOM_SUFFIX = ".spdx"

#: Content types and cache policy of everything the publisher writes.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
MARKER_CACHE_CONTROL = "no-cache, max-age=0"
#: The revision manifest grows while runners publish their architectures one by one: never cached.
REVISION_MANIFEST_CACHE_CONTROL = MARKER_CACHE_CONTROL


def _rev(revision: Revision | str) -> str:
    return str(revision if isinstance(revision, Revision) else parse_revision(revision))


def tarball_name(arch: str, revision: Revision | str) -> str:
    """`cri-o.amd64.v1.21.0.tar.gz`: the file name of one architecture's bundle."""
    return f"cri-o.{normalize_arch(arch)}.{_rev(revision)}.tar.gz"


_TARBALL_NAME_RE = re.compile(r"cri-o\.(.*)\.tar\.gz", re.S)


def parse_tarball_name(name: str, shown: str | None = None) -> tuple[str, Revision]:
    """(arch, revision) of a file named as `tarball_name` names it; `shown` is what errors call it.

    The architecture is the text up to the first dot, the revision the rest
    (`get -f` installs a local tarball by this rule). An unknown architecture
    is exit 3, anything else exit 2.
    """
    shown = name if shown is None else shown
    match = _TARBALL_NAME_RE.fullmatch(name)
    if match is None:
        raise UsageError(f"'{name}' is not named cri-o.ARCH.REVISION.tar.gz")
    arch_text, _, rev_text = match[1].partition(".")
    try:
        arch = normalize_arch(arch_text)
    except CrioError:
        raise UnsupportedArchitecture(f"unsupported architecture in '{shown}'") from None
    try:
        revision = parse_revision(rev_text)
    except CrioError:
        raise UsageError(f"no valid revision in the name '{shown}'") from None
    return arch, revision


def checksum_name(arch: str, revision: Revision | str) -> str:
    """`….tar.gz.sha256sum`, in `sha256sum -c` format."""
    return tarball_name(arch, revision) + CHECKSUM_SUFFIX


def signature_name(arch: str, revision: Revision | str) -> str:
    """`….tar.gz.sig`: base64 ECDSA-P256/SHA-256 signature of the tarball (cosign's blob format)."""
    return tarball_name(arch, revision) + SIGNATURE_SUFFIX


def sbom_name(arch: str, revision: Revision | str) -> str:
    """`….tar.gz.spdx`: the SPDX 2.3 tag-value SBOM of the tarball."""
    return tarball_name(arch, revision) + SBOM_SUFFIX


def sbom_signature_name(arch: str, revision: Revision | str) -> str:
    """`….tar.gz.spdx.sig`: signature of the SBOM."""
    return sbom_name(arch, revision) + SIGNATURE_SUFFIX


def bundle_name(arch: str, revision: Revision | str) -> str:
    """`….tar.gz.bundle`: the Sigstore bundle (keyless signature) of the tarball, as cosign v3 writes it."""
    return tarball_name(arch, revision) + SIGSTORE_BUNDLE_SUFFIX


def certificate_name(arch: str, revision: Revision | str) -> str:
    """`….tar.gz.cert`: the signing certificate beside a keyless `.sig` (upstream's older revisions)."""
    return tarball_name(arch, revision) + CERTIFICATE_SUFFIX


def provenance_bundle_name(revision: Revision | str) -> str:
    """`cri-o.<rev>.provenance.json.bundle`: the provenance statement's keyless signature."""
    return provenance_name(revision) + SIGSTORE_BUNDLE_SUFFIX


def sbom_bundle_name(arch: str, revision: Revision | str) -> str:
    """`….tar.gz.spdx.bundle`: the Sigstore bundle of the SBOM."""
    return sbom_name(arch, revision) + SIGSTORE_BUNDLE_SUFFIX


def provenance_name(revision: Revision | str) -> str:
    """`cri-o.<rev>.provenance.json`: the in-toto Statement v1 / SLSA Provenance v1 of the revision."""
    return f"cri-o.{_rev(revision)}.provenance.json"


def revision_files(revision: Revision | str) -> dict[str, str]:
    """Per-revision files beside the manifest, by role: the provenance and its signatures (all optional)."""
    provenance = provenance_name(revision)
    return {"provenance": provenance, "provenance_signature": provenance + SIGNATURE_SUFFIX,
            "provenance_bundle": provenance + SIGSTORE_BUNDLE_SUFFIX}


def manifest_name(revision: Revision | str) -> str:
    """`cri-o.<rev>.manifest.json`: every file of the revision with size and sha256."""
    return f"cri-o.{_rev(revision)}.manifest.json"


def manifest_signature_name(revision: Revision | str) -> str:
    return manifest_name(revision) + SIGNATURE_SUFFIX


def manifest_bundle_name(revision: Revision | str) -> str:
    """`cri-o.<rev>.manifest.json.bundle`: the manifest's keyless signature."""
    return manifest_name(revision) + SIGSTORE_BUNDLE_SUFFIX


def arch_files(arch: str, revision: Revision | str) -> dict[str, str]:
    """All files of one architecture by role; `tarball`, `checksum` and `sbom` are required."""
    return {
        "tarball": tarball_name(arch, revision),
        "checksum": checksum_name(arch, revision),
        "sbom": sbom_name(arch, revision),
        "signature": signature_name(arch, revision),
        "sbom_signature": sbom_signature_name(arch, revision),
        "bundle": bundle_name(arch, revision),
        "sbom_bundle": sbom_bundle_name(arch, revision),
    }


#: Roles without which an architecture's set is incomplete.
REQUIRED_ROLES: tuple[str, ...] = ("tarball", "checksum", "sbom")
#: Roles published when the pipeline signs: with a key (`.sig`) or keyless (`.bundle`).
OPTIONAL_ROLES: tuple[str, ...] = ("signature", "sbom_signature", "bundle", "sbom_bundle")
#: Roles whose links release notes show (keyless bundles are found beside them by suffix).
LINK_ROLES: tuple[str, ...] = ("tarball", "checksum", "sbom", "signature", "sbom_signature")


def object_path(name: str) -> str:
    """Bucket path of an artifact file: `artifacts/<name>`."""
    if "/" in name or name in ("", ".", ".."):
        raise UsageError(f"invalid artifact file name {name!r}: expected a plain file name")
    return f"{ARTIFACTS_DIR}/{name}"


# Markers --------------------------------------------------------------------

MAIN_MARKER = "latest-main.txt"
RELEASE_BRANCH_PREFIX = "release-"


def release_branch(minor: Version | str) -> str:
    """`release-1.22` for a version or a `1.22` series."""
    return f"{RELEASE_BRANCH_PREFIX}{_series(minor)}"


def parse_release_branch(name: str) -> tuple[int, int] | None:
    """`release-1.22` -> (1, 22); None for any other branch name (`v` before the series is tolerated)."""
    if not name.startswith(RELEASE_BRANCH_PREFIX):
        return None
    return parse_minor_series(name.removeprefix(RELEASE_BRANCH_PREFIX))


def release_branch_marker(minor: Version | str) -> str:
    """`latest-release-1.22.txt`: newest commit on release-1.22."""
    return f"latest-release-{_series(minor)}.txt"


def tag_marker(minor: Version | str) -> str:
    """`latest-1.22.txt`: newest (non-pre-release) tag of 1.22."""
    return f"latest-{_series(minor)}.txt"


def _series(minor: Version | str) -> str:
    if isinstance(minor, Version):
        return minor.minor_series
    major, _, rest = minor.removeprefix("v").partition(".")
    if not (major.isdigit() and rest.isdigit()):
        raise UsageError(f"invalid minor series {minor!r}: expected MAJOR.MINOR such as 1.22")
    return f"{int(major)}.{int(rest)}"


@dataclass(frozen=True)
class MarkerMove:
    """One marker a publish should move, and why."""

    marker: str
    reason: str


def markers_for(revision: Revision, branch: str | None = None) -> list[MarkerMove]:
    """Which markers a revision moves: main and release branches by commit, tags by minor.

    A pre-release tag moves no stable marker; a commit on any other branch moves none.
    """
    if revision.version is not None:
        if revision.version.is_prerelease:
            return []
        return [MarkerMove(tag_marker(revision.version), f"newest tag of {revision.version.minor_series}")]
    if branch == "main":
        return [MarkerMove(MAIN_MARKER, "newest commit on main")]
    if branch and branch.startswith(RELEASE_BRANCH_PREFIX):
        series = parse_release_branch(branch)
        if series is None:
            raise UsageError(f"invalid release branch {branch!r}: expected release-MAJOR.MINOR such as release-1.22")
        return [MarkerMove(release_branch_marker(f"{series[0]}.{series[1]}"), f"newest commit on {branch}")]
    return []


# Upstream's bundle markers ---------------------------------------------------

#: cri-o/packaging writes `latest-bundle-<what it built>.txt` once that bundle is uploaded; upstream's get
#: reads `latest-bundle-main.txt` by default. Each holds the name the tarballs carry (commit or tag).
BUNDLE_MARKER_PREFIX = "latest-bundle-"
BUNDLE_MAIN_MARKER = f"{BUNDLE_MARKER_PREFIX}main.txt"


def release_branch_bundle_marker(minor: Version | str) -> str:
    """`latest-bundle-release-1.22.txt`: newest commit on release-1.22 whose bundle is published."""
    return f"{BUNDLE_MARKER_PREFIX}{release_branch(minor)}.txt"


def tag_bundle_marker(revision: Revision | str) -> str:
    """`latest-bundle-v1.22.3.txt`: the bundle of that very tag is published (the marker holds the tag)."""
    rev = revision if isinstance(revision, Revision) else parse_revision(revision)
    if rev.version is None:
        raise UsageError(f"invalid tag {rev}: a tag bundle marker needs a version tag such as v1.22.3")
    return f"{BUNDLE_MARKER_PREFIX}{rev}.txt"


def bundle_marker_tag(name: str) -> str | None:
    """`v1.22.3` for latest-bundle-v1.22.3.txt (the only revision it may hold); None for any other name."""
    if not (name.startswith(f"{BUNDLE_MARKER_PREFIX}v") and name.endswith(".txt")):
        return None
    try:
        rev = parse_revision(name.removeprefix(BUNDLE_MARKER_PREFIX).removesuffix(".txt"))
    except CrioError:
        return None
    return str(rev) if rev.version is not None else None


def bundle_markers_for(revision: Revision, branch: str | None = None) -> list[MarkerMove]:
    """Upstream's markers a publish moves beside ours: main and release branches by commit, every tag by itself.

    Same rules as `markers_for` (forward only, complete sets only, none for a pre-release tag, whose
    builds upstream's pipeline does not mark either); a tag's marker can only ever name that tag.
    """
    if revision.version is not None:
        if revision.version.is_prerelease:
            return []
        return [MarkerMove(tag_bundle_marker(revision), f"bundle of {revision} (upstream's marker)")]
    ours = markers_for(revision, branch)
    if not ours:
        return []
    if branch == "main":
        return [MarkerMove(BUNDLE_MAIN_MARKER, "newest commit on main (upstream's marker)")]
    assert branch is not None
    return [MarkerMove(release_branch_bundle_marker(branch.removeprefix(RELEASE_BRANCH_PREFIX)),
                       f"newest commit on {branch} (upstream's marker)")]


def publish_markers_for(revision: Revision, branch: str | None = None) -> list[MarkerMove]:
    """Every marker a complete publish of `revision` moves: ours, then upstream's `latest-bundle-*`."""
    return markers_for(revision, branch) + bundle_markers_for(revision, branch)


def marker_signature_name(marker: str) -> str:
    """`latest-1.22.txt.sig`: the marker's signed statement (crio.signed_marker), beside the marker."""
    return marker + SIGNATURE_SUFFIX


def request_markers(request: str | None) -> tuple[str, str | None]:
    """The marker `get [-t REQUEST]` reads, and the one it reads only when that one is absent (None: none).

    No request: upstream's latest-bundle-main.txt, which moves once the bundle is uploaded, else our
    latest-main.txt; `release-1.Y`: latest-bundle-release-1.Y.txt, else latest-release-1.Y.txt. Upstream's
    CI moves those two fallbacks when it uploads binaries, possibly before the bundle exists, so an
    installer that falls back checks that the bundle it names is published. `v1.21`: latest-1.21.txt.
    """
    if not request:
        return BUNDLE_MAIN_MARKER, MAIN_MARKER
    if request.startswith(RELEASE_BRANCH_PREFIX):
        branch = parse_release_branch(request)
        if branch is None:
            raise UsageError(f"invalid release branch {request!r}: expected release-MAJOR.MINOR such as release-1.36")
        minor = f"{branch[0]}.{branch[1]}"
        return release_branch_bundle_marker(minor), release_branch_marker(minor)
    series = parse_minor_series(request)
    if series is None:
        raise UsageError(f"invalid channel {request!r}: expected vMAJOR.MINOR such as v1.21, "
                         "or release-MAJOR.MINOR such as release-1.36")
    return tag_marker(f"{series[0]}.{series[1]}"), None


def is_channel_request(request: str | None) -> bool:
    """Whether `-t REQUEST` names a marker to read (none, vMAJOR.MINOR, release-*) rather than a revision."""
    return not request or request.startswith(RELEASE_BRANCH_PREFIX) or parse_minor_series(request) is not None


def marker_for_request(request: str | None) -> str:
    """The marker `get -t` reads first: none -> latest-bundle-main.txt, `v1.21` -> latest-1.21.txt."""
    return request_markers(request)[0]


# URLs ----------------------------------------------------------------------


def public_base_url(bucket: str = DEFAULT_BUCKET) -> str:
    """Anonymous read URL of a GCS bucket: `https://storage.googleapis.com/BUCKET`."""
    return f"{GCS_PUBLIC_ENDPOINT}/{quote(validate_bucket_name(bucket.removeprefix('gs://')))}"


#: GCS bucket names: 3 to 63 lowercase letters, digits, dashes, underscores and dots.
BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


def validate_bucket_name(name: str) -> str:
    """Return a valid GCS bucket name or raise with what is accepted."""
    if not BUCKET_NAME_RE.match(name) or ".." in name:
        raise UsageError(
            f"invalid bucket name {name!r}: expected 3-63 lowercase letters, digits, '-', '_' or '.', such as cri-o"
        )
    return name


def object_url(base_url: str, path: str) -> str:
    """URL of a bucket path under a base URL (a bucket's public URL or any mirror)."""
    return f"{base_url.rstrip('/')}/{path}"


def artifact_url(base_url: str, name: str) -> str:
    """URL of an artifact file: `BASE/artifacts/<name>`."""
    return object_url(base_url, object_path(name))


def download_links(base_url: str, revision: Revision | str, archs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Every architecture's public links for release notes: tarball, checksum, SBOM, signature."""
    return {
        arch: {role: artifact_url(base_url, name) for role, name in arch_files(arch, revision).items()
               if role in LINK_ROLES}
        for arch in archs
    }


# The node side ---------------------------------------------------------------

#: Where the in-bundle `install` script records exactly what it wrote (below
#: DESTDIR), and keeps a copy of itself so `install --uninstall` works without
#: the bundle. Outside any user's $HOME on purpose.
INSTALL_STATE_DIR = "/var/lib/crio-install"
INSTALL_RECORD = "record.tsv"
#: A kept previous installation, below the state dir (it exists exactly when one is kept).
INSTALL_PREVIOUS_DIR = "previous"

#: The install script's path variables, in the order its help lists them; each
#: may be named as @VAR@ in a bundle file and is rendered with its real value.
#: scripts/get and crio-get pass them through and print them in a dry run.
INSTALL_PATH_VARIABLES: tuple[str, ...] = (
    "PREFIX", "ETCDIR", "LIBEXECDIR", "LIBEXEC_CRIO_DIR", "ETC_CRIO_DIR", "CONTAINERS_DIR",
    "CONTAINERS_REGISTRIES_CONFD_DIR", "CNIDIR", "BINDIR", "MANDIR", "OCIDIR", "BASHINSTALLDIR", "FISHINSTALLDIR", "ZSHINSTALLDIR", "OPT_CNI_BIN_DIR", "SYSTEMDDIR",
    "SYSCONFIGDIR", "STATEDIR",
)
#: Everything an installer passes to the install script: DESTDIR (never rendered) and the path variables.
INSTALL_VARIABLES: tuple[str, ...] = ("DESTDIR", *INSTALL_PATH_VARIABLES)
#: The line an install script declares what it offers with, read (never run) by the installers:
#: `# crio-install-capabilities: list uninstall ...` among its first lines. A script without `list`
#: (upstream's, which ignores its arguments) is run only into a private scratch root.
INSTALL_CAPABILITIES_TAG = "crio-install-capabilities"
INSTALL_CAPABILITIES_LINES = 10
#: The capability that makes a script ours to plan with `--list` and run in place.
CAPABILITY_LIST = "list"
#: Capabilities that name an installer option of the script: the word is the option without its `--`
#: (--verified-tarball SHA256, --record-meta KEY=VALUE, --move-sources, --file-sums FILE).
CAPABILITY_VERIFIED_TARBALL = "verified-tarball"
CAPABILITY_RECORD_META = "record-meta"
CAPABILITY_MOVE_SOURCES = "move-sources"
CAPABILITY_FILE_SUMS = "file-sums"
#: --plan-fd FD --go-fd FD: one run that sends its plan (what --list prints, then INSTALL_PLAN_END) and
#: installs exactly that plan once the caller writes `go` (crio_installer.planned_run); only ever read from
#: the line (no script showed it in --help before the line listed the options).
CAPABILITY_PLAN_FD = "plan-fd"
INSTALL_OPTION_CAPABILITIES: tuple[str, ...] = (
    CAPABILITY_VERIFIED_TARBALL, CAPABILITY_RECORD_META, CAPABILITY_MOVE_SOURCES, CAPABILITY_FILE_SUMS,
    CAPABILITY_PLAN_FD,
)
#: The line ending a plan sent on --plan-fd (the install script's PLAN_END): never a path.
INSTALL_PLAN_END = "-- end of plan"
#: A capabilities line naming one of these lists every installer option its script offers, so the
#: installers take the options from the line and never run the script's --help. Older scripts of ours
#: declare `list` (and record-meta, verified-tarball) but offer more than their line says: their
#: --help is asked which options they offer.
OPTIONS_DECLARED_BY: tuple[str, ...] = (CAPABILITY_MOVE_SOURCES, CAPABILITY_FILE_SUMS)
#: Record metadata of an install the installer wrote itself (from an upstream-layout bundle):
#: `#layout<TAB>upstream`; `-u` then removes the recorded files without running any script.
LAYOUT_KEY = "layout"
LAYOUT_UPSTREAM = "upstream"
#: Upstream's uninstall list in the HOME of whoever ran its install script, and its name once adopted.
UPSTREAM_INSTALL_LIST = ".crio-install"
UPSTREAM_INSTALL_LIST_ADOPTED = ".crio-install.adopted"
#: The files upstream's install script writes, by the end of their path: only these may be adopted from
#: a `~/.crio-install` (data found on the node: a planted list must not make a run remove anything else).
#: CNI plugins are not adopted (upstream lists them as a literal glob; other runtimes share them).
UPSTREAM_ADOPTABLE_SUFFIXES: tuple[str, ...] = (
    *(f"/bin/{name}" for name in ("crio", "pinns", "crictl", "crio-status", "conmon", "conmonrs", "crun", "runc",
                                  "crio-credential-provider")),
    *(f"/libexec/crio/{name}" for name in ("conmon", "conmonrs", "crun", "runc", "crio-credential-provider")),
    "/crictl.yaml", "/oci-umount.d/crio-umount.conf", "/default/crio", "/sysconfig/crio",
    "/crio/policy.json", "/crio/crio.conf.d/10-crio.conf", "/registries.conf.d/registries.conf",
    "/net.d/10-crio-bridge.conflist.disabled", "/net.d/10-crio-bridge.conflist", "/net.d/11-crio-ipv4-bridge.conflist",
    "/man5/crio.conf.5", "/man5/crio.conf.d.5", "/man8/crio.8", "/man8/crio-status.8",
    "/completions/crio", "/completions/crio.fish", "/site-functions/_crio", "/systemd/system/crio.service",
)
#: sha256 tools the bash installers use, in the order they prefer them: openssl first, as it uses the CPU's SHA
#: instructions (4x coreutils' sha256sum on this machine, which has none).
SHA256_TOOLS: tuple[str, ...] = ("openssl", "sha256sum", "shasum")
