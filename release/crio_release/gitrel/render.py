"""The Markdown page of a release, shaped like upstream's pages on cri-o/cri-o's gh-pages branch.

Table of contents; `# CRI-O vX.Y.Z`; the generation date and commit range;
`## Downloads` (each architecture's tarball with its side files, the
revision manifest, how to verify); `## Changelog since vPREV` with
`### Urgent Upgrade Notes` (release-note-action-required) and
`### Changes by Kind` → `#### Feature`, `#### Bug or Regression`, … each note
as ` - Text (#N, @author)`; `## Dependencies` (when the repository has a
go.mod). The generation line starts with GENERATED_PREFIX so a re-publish can
tell a page that only differs by its date from a changed one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crio_release.gitrel.godeps import render_dependencies
from crio_release.gitrel.prnotes import group_by_section

if TYPE_CHECKING:
    from crio_release.gitrel.notes import ReleaseNotes

GENERATED_PREFIX = "Generated on "
NO_CHANGES = "No user-facing changes."
TOC_BEGIN, TOC_END = "<!-- BEGIN MUNGE: GENERATED_TOC -->", "<!-- END MUNGE: GENERATED_TOC -->"


def anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _range_line(notes: ReleaseNotes) -> str:
    date = notes.generated.strftime("%a, %d %b %Y %H:%M:%S UTC")
    to = notes.to_rev if notes.to_rev.startswith("v") else notes.to_sha[:12]
    start = notes.from_rev or ""
    shown = f"{start}...{to}" if start else to
    if notes.web_url and start:
        shown = f"[{shown}]({notes.web_url}/compare/{start}...{notes.to_sha})"
    elif notes.web_url:
        shown = f"[{shown}]({notes.web_url}/commits/{notes.to_sha})"
    what = "the commit range" if start else "every commit up to"
    return f"{GENERATED_PREFIX}{date} from {what} {shown}."


def _downloads(notes: ReleaseNotes) -> list[str]:
    d = notes.downloads
    where = ("as listed by the revision's published manifest" if d.source == "manifest"
             else "named by the bucket contract (the revision's manifest is not published yet)")
    lines = ["## Downloads", "", f"Static bundles of {notes.revision} in the bucket at {notes.base_url}, {where}:",
             ""]
    for arch, roles in d.by_arch().items():
        tarball = roles.get("tarball")
        if tarball is None:
            continue
        digest = f" (sha256 `{tarball.sha256}`)" if tarball.sha256 else ""
        lines.append(f"- {arch}: [{tarball.name}]({tarball.url}){digest}")
        lines += [f"  - [{f.name}]({f.url})" for role, f in roles.items() if role != "tarball"]
    if d.manifest_url:
        lines.append(f"- [{d.manifest_url.rsplit('/', 1)[-1]}]({d.manifest_url}): every file with its size "
                     "and sha256")
    first = next(iter(d.by_arch().values()), {})
    if "tarball" in first and "checksum" in first:
        tar, sha = first["tarball"].name, first["checksum"].name
        lines += ["", "Verify a download before unpacking it:", "", "```console", f"> sha256sum -c {sha}"]
        if "signature" in first:
            lines.append(f"> openssl dgst -sha256 -verify release.pub -signature <(base64 -d "
                         f"{first['signature'].name}) {tar}")
        lines.append("```")
    return lines


def _changelog(notes: ReleaseNotes) -> tuple[list[str], list[tuple[int, str]]]:
    title = f"Changelog since {notes.from_rev}" if notes.from_rev else "Changelog"
    lines, toc = [f"## {title}", ""], [(2, title)]
    urgent = sorted(n.markdown() for n in notes.notes if n.action_required)
    if urgent:
        lines += ["### Urgent Upgrade Notes", "", *(f" - {line}" for line in urgent), ""]
        toc.append((3, "Urgent Upgrade Notes"))
    lines += ["### Changes by Kind", ""]
    toc.append((3, "Changes by Kind"))
    groups = group_by_section(notes.notes)
    if not groups:
        lines += [NO_CHANGES, ""]
    for section, entries in groups:
        lines += [f"#### {section}", "", *(f" - {entry}" for entry in entries), ""]
        toc.append((4, section))
    return lines, toc


def _toc(entries: list[tuple[int, str]]) -> list[str]:
    seen: dict[str, int] = {}
    lines = [TOC_BEGIN, ""]
    for level, title in entries:
        slug = anchor(title)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        lines.append(f"{'  ' * (level - 1)}- [{title}](#{slug}{f'-{count}' if count else ''})")
    return [*lines, "", TOC_END]


def render_page(notes: ReleaseNotes) -> str:
    """The whole page, ending with one newline."""
    changelog, toc = _changelog(notes)
    body = [f"# {notes.title}", "", _range_line(notes), "", *_downloads(notes), "", *changelog]
    entries = [(1, notes.title), (2, "Downloads"), *toc]
    if notes.dependencies is not None:
        body += render_dependencies(notes.dependencies)
        entries += [(2, "Dependencies"), (3, "Added"), (3, "Changed"), (3, "Removed")]
    text = "\n".join([*_toc(entries), "", *body])
    return text.rstrip("\n") + "\n"
