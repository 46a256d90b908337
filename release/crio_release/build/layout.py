"""Upstream's bundle layout as a spec rule: a bundle for upstream's install script holds every path it reads.

Why before fetching: upstream's `get` installs a bundle with its own embedded
copy of upstream's install script (`set -e`, a fixed list of paths,
crio.bundle_layout.UPSTREAM_INSTALL_READS); one missing path stops that install
half-way on the node. A spec that cannot yield them all is refused up front
(ExitCode.SPEC), unless it names the gap with its reason in [upstream_gaps], so
the gap is written down where the pins are and said by the README.

The paths a spec yields are read from it without fetching: a file dest, a
directory dest's members by base name, a local directory source's files, and
what a component declares in `provides` (a directory member of a download or
nix output, whose files only the build knows; `check_provided` holds the
build to the declaration).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from crio.bundle_layout import TEMPLATES_DIR, UPSTREAM_INSTALL_READS, missing_upstream_paths, render_defaults
from crio.errors import CrioError, ExitCode
from crio_release.build.sources import StagedFile
from crio_release.build.spec import ALL_ARCHS, Component, Source, Spec


def source_paths(component: Component, source: Source) -> set[str]:
    """The bundle paths (below cri-o/) one source of `component` yields, as far as the spec says."""
    dest = component.dest
    paths = set(component.provides)
    if source.members and not source.single_member:
        paths.update(f"{dest}/{PurePosixPath(member).name}" for member in source.members)
    elif source.kind == "path" and source.path is not None and source.path.is_dir():
        paths.update(f"{dest}/{p.relative_to(source.path).as_posix()}"
                     for p in source.path.rglob("*") if p.is_file())
    else:
        paths.add(dest)
    return paths


def spec_paths(spec: Spec) -> dict[str, set[str]]:
    """Architecture (or `all` when no component is per-architecture) -> the bundle paths the spec yields."""
    archs = sorted({arch for c in spec.components for arch in c.sources if arch != ALL_ARCHS}) or [ALL_ARCHS]
    out: dict[str, set[str]] = {}
    for arch in archs:
        paths: set[str] = set()
        for component in spec.components:
            source = component.sources.get(arch) or component.sources.get(ALL_ARCHS)
            if source is not None:
                paths |= source_paths(component, source)
        out[arch] = paths
    return out


def upstream_layout_problems(spec: Spec) -> list[str]:
    """Every upstream path the spec does not yield for an architecture and does not name as a gap; [] if none.

    A gap must be one of upstream's paths, and one the spec really lacks (a filled gap is stale).
    """
    gaps = dict(spec.upstream_gaps)
    problems = [f"upstream_gaps names {path!r}, which upstream's install script does not read; it reads: "
                f"{', '.join(UPSTREAM_INSTALL_READS)}" for path in gaps if path not in UPSTREAM_INSTALL_READS]
    for arch, paths in spec_paths(spec).items():
        missing = missing_upstream_paths(paths)
        for path in missing:
            if path not in gaps:
                problems.append(f"no component writes cri-o/{path} ({arch}): upstream's install script reads it "
                                f"(into ${UPSTREAM_INSTALL_READS[path]}) and stops without it; add it, or name "
                                "the gap and why under [upstream_gaps]")
        problems += [f"upstream_gaps names {path!r}, but the spec writes it ({arch}); remove the gap"
                     for path in gaps if path in UPSTREAM_INSTALL_READS and path not in missing]
    return list(dict.fromkeys(problems))


def check_upstream_layout(spec: Spec) -> None:
    """Raise CrioError(SPEC) listing every upstream-layout problem when the spec asks for the layout."""
    if not spec.upstream_layout:
        return
    problems = upstream_layout_problems(spec)
    if problems:
        raise CrioError(f"spec {spec.path}: " + "; ".join(problems), ExitCode.SPEC)


def check_provided(files: list[StagedFile], spec: Spec) -> None:
    """Every path a component declares in `provides` was staged by it (the build keeps the spec's word)."""
    staged = {(f.component, f.dest) for f in files}
    for component in spec.components:
        for path in component.provides:
            if (component.name, path) not in staged:
                raise CrioError(f"component {component.name} declares it provides cri-o/{path}, but its source "
                                "did not yield that file", ExitCode.SPEC)


def with_templates(files: list[StagedFile], work: Path) -> list[StagedFile]:
    """A templates component's files: each naming @VAR@ paths is rendered with upstream's defaults at its dest
    (upstream's install script copies it verbatim, so it must hold real paths) and kept as written under
    templates/ (our install script renders that with the node's values). Files without one stay as they are.
    """
    out: list[StagedFile] = []
    for staged in files:
        data = staged.path.read_bytes()
        rendered = render_defaults(data)
        if rendered == data:
            out.append(staged)
            continue
        target = work / staged.dest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rendered)
        out.append(StagedFile(staged.dest, target, staged.mode, staged.component))
        out.append(StagedFile(f"{TEMPLATES_DIR}/{staged.dest}", staged.path, staged.mode, staged.component))
    return out
