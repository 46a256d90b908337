"""The Downloads section: what the bucket really publishes for a revision, or what the contract names.

`auto` (the default) reads the revision's manifest `cri-o.<rev>.manifest.json`
from the bucket: when it is published, the page lists exactly the files it
names, with their sha256 (an architecture that was not built is not linked);
when it is not published yet (404), or the bucket cannot be reached, the
links come from the contract (crio.artifacts) and the page says so.
`manifest` requires the manifest; `contract` reads nothing from the network.
A manifest that names a file the contract does not name for its
architecture and role is refused: the page would link to something else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from crio.artifacts import LINK_ROLES, arch_files, artifact_url, manifest_name
from crio.download import DownloadFailed, Fetcher, NotFound, RetryPolicy
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest
from crio.revision import Revision

MODES = ("auto", "manifest", "contract")


@dataclass(frozen=True)
class DownloadFile:
    name: str
    url: str
    arch: str
    role: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Downloads:
    """Every linked file of a revision and where the list came from (`manifest` or `contract`)."""

    source: str
    files: tuple[DownloadFile, ...]
    manifest_url: str | None = None

    def by_arch(self) -> dict[str, dict[str, DownloadFile]]:
        out: dict[str, dict[str, DownloadFile]] = {}
        for f in self.files:
            out.setdefault(f.arch, {})[f.role] = f
        return out

    def links(self) -> dict[str, dict[str, str]]:
        """{arch: {role: url}}: the JSON shape `notes --json` has always had."""
        return {arch: {role: f.url for role, f in roles.items()} for arch, roles in self.by_arch().items()}

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "manifest": self.manifest_url, "files": [asdict(f) for f in self.files]}


def contract_downloads(base_url: str, revision: Revision, archs: tuple[str, ...]) -> Downloads:
    """Links by the contract alone: the roles every signed revision has (keyless bundles only when published)."""
    files = tuple(DownloadFile(name, artifact_url(base_url, name), arch, role)
                  for arch in archs for role, name in arch_files(arch, revision).items() if role in LINK_ROLES)
    return Downloads("contract", files)


def manifest_downloads(base_url: str, revision: Revision, text: bytes,
                       archs: tuple[str, ...] | None) -> Downloads:
    """The files a published manifest names, checked against the contract's names."""
    manifest = RevisionManifest.from_json(text)
    url = artifact_url(base_url, manifest_name(revision))
    if manifest.revision != str(revision):
        raise CrioError(f"{url} is the manifest of {manifest.revision}, not {revision}", ExitCode.VERIFICATION)
    files = []
    for entry in manifest.files:
        expected = arch_files(entry.arch, revision).get(entry.role) if entry.arch in manifest.architectures else None
        if entry.name != expected:
            raise CrioError(f"{url} lists {entry.name!r} as the {entry.role} of {entry.arch}, which the contract "
                            f"names {expected!r}: refusing to link it", ExitCode.VERIFICATION)
        if archs is None or entry.arch in archs:
            files.append(DownloadFile(entry.name, artifact_url(base_url, entry.name), entry.arch, entry.role,
                                      entry.sha256, entry.size))
    order = {role: i for i, role in enumerate(arch_files("amd64", revision))}
    files.sort(key=lambda f: (manifest.architectures.index(f.arch), order.get(f.role, 99)))
    return Downloads("manifest", tuple(files), url)


def revision_downloads(base_url: str, revision: Revision, archs: tuple[str, ...] | None, mode: str = "auto",
                       fetcher: Fetcher | None = None, warn: Callable[[str], None] = print) -> Downloads:
    """Downloads of REVISION under BASE_URL by MODE; ARCHS None means every published (or contract) arch."""
    from crio.arch import ARCHITECTURES

    if mode not in MODES:
        raise CrioError(f"invalid --downloads {mode!r}: expected one of {', '.join(MODES)}", ExitCode.USAGE)
    if mode == "contract":
        return contract_downloads(base_url, revision, archs or ARCHITECTURES)
    url = artifact_url(base_url, manifest_name(revision))
    fetcher = fetcher or Fetcher(RetryPolicy(timeout=10.0, attempts=2, delay=0.5), user_agent="crio-release")
    try:
        text = fetcher.read_small(url)
    except NotFound:
        if mode == "manifest":
            raise CrioError(f"{url} is not published: --downloads manifest needs the revision's manifest",
                            ExitCode.RESOLUTION) from None
        warn(f"note: {manifest_name(revision)} is not published yet: download links follow the bucket contract")
        return contract_downloads(base_url, revision, archs or ARCHITECTURES)
    except DownloadFailed as exc:
        if mode == "manifest":
            raise
        warn(f"warning: could not read {url} ({exc.message}): download links follow the bucket contract")
        return contract_downloads(base_url, revision, archs or ARCHITECTURES)
    return manifest_downloads(base_url, revision, text, archs)
