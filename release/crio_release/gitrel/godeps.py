"""The Dependencies section: Go modules added, changed and removed between two revisions' go.mod.

Read from the two commits' trees (no Go toolchain, no network). Every
`require` entry counts, direct or `// indirect`; a `replace` with a version
gives the module that version (`other/module v1.2.3` when it points
elsewhere); replacements by a local path are ignored, as are `exclude` and
`retract`. Printed as upstream's pages print go-modiff's report: modules by
name, pseudo-versions shortened to their 7-character commit, `+incompatible`
dropped, GitHub modules linked to their tree or compare page, and
"_Nothing has changed._" under an empty heading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import git

from crio_release.gitrel.repo import file_at

GO_MOD = "go.mod"
NOTHING = "_Nothing has changed._"
_PSEUDO_RE = re.compile(r"-(?:\d+\.)?\d{14}-([0-9a-f]{12})$")


def _entries(text: str) -> list[tuple[str, list[str]]]:
    """(directive, fields) of every go.mod line, with blocks `require (...)` expanded and comments removed."""
    out: list[tuple[str, list[str]]] = []
    block: str | None = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block is not None:
            if line == ")":
                block = None
            else:
                out.append((block, line.split()))
            continue
        directive, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest == "(":
            block = directive
        elif rest:
            out.append((directive, rest.split()))
    return out


def module_versions(text: str) -> dict[str, str]:
    """Module path -> version required by a go.mod, replacements applied."""
    required: dict[str, str] = {}
    replaced: dict[tuple[str, str | None], str] = {}
    for directive, fields in _entries(text):
        if directive == "require" and len(fields) >= 2:
            required[fields[0]] = fields[1]
        elif directive == "replace" and "=>" in fields:
            arrow = fields.index("=>")
            old, new = fields[:arrow], fields[arrow + 1:]
            if len(new) == 2:  # a module and version; a lone local path is ignored
                target = new[1] if new[0] == old[0] else f"{new[0]} {new[1]}"
                replaced[(old[0], old[1] if len(old) > 1 else None)] = target
    for module, version in required.items():
        override = replaced.get((module, version)) or replaced.get((module, None))
        if override:
            required[module] = override
    return required


def pretty_version(version: str) -> str:
    """What upstream prints for a version: a pseudo-version's short commit, without +incompatible."""
    if " " in version:  # a replacement by another module: `path version`
        path, _, version = version.rpartition(" ")
        return f"{path} {pretty_version(version)}"
    version = version.removesuffix("+incompatible")
    match = _PSEUDO_RE.search(version)
    return match.group(1)[:7] if match else version


@dataclass(frozen=True)
class DependencyChanges:
    added: list[tuple[str, str]]
    changed: list[tuple[str, str, str]]
    removed: list[tuple[str, str]]

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"added": [{"module": m, "version": v} for m, v in self.added],
                "changed": [{"module": m, "from": a, "to": b} for m, a, b in self.changed],
                "removed": [{"module": m, "version": v} for m, v in self.removed]}


def diff_modules(before: dict[str, str], after: dict[str, str]) -> DependencyChanges:
    added = [(m, pretty_version(after[m])) for m in sorted(set(after) - set(before))]
    removed = [(m, pretty_version(before[m])) for m in sorted(set(before) - set(after))]
    changed = [(m, pretty_version(before[m]), pretty_version(after[m])) for m in sorted(set(before) & set(after))
               if before[m] != after[m]]
    return DependencyChanges(added, changed, removed)


def dependency_changes(repo: git.Repo, base: str | None, tip: str) -> DependencyChanges | None:
    """Changes of go.mod from BASE to TIP; None when TIP has no go.mod (then the page has no such section)."""
    after = file_at(repo, tip, GO_MOD)
    if after is None:
        return None
    before = file_at(repo, base, GO_MOD) if base else None
    return diff_modules(module_versions(before[0]) if before else {}, module_versions(after[0]))


def _github_base(module: str) -> str | None:
    parts = module.split("/")
    return "https://" + "/".join(parts[:3]) if parts[0] == "github.com" and len(parts) >= 3 else None


def _one(module: str, version: str) -> str:
    base = _github_base(module)
    return f"- {module}: [{version}]({base}/tree/{version})" if base and " " not in version else \
        f"- {module}: {version}"


def _change(module: str, old: str, new: str) -> str:
    base = _github_base(module)
    if base and " " not in old + new:
        return f"- {module}: [{old} → {new}]({base}/compare/{old}...{new})"
    return f"- {module}: {old} → {new}"


def render_dependencies(changes: DependencyChanges) -> list[str]:
    """`## Dependencies` with `### Added`, `### Changed`, `### Removed` lines."""
    lines = ["## Dependencies"]
    sections = [("Added", [_one(m, v) for m, v in changes.added]),
                ("Changed", [_change(m, a, b) for m, a, b in changes.changed]),
                ("Removed", [_one(m, v) for m, v in changes.removed])]
    for title, items in sections:
        lines += ["", f"### {title}", "", *(items or [NOTHING])]
    return lines
