"""The release policy: which CRI-O branches are maintained on a given day.

CRI-O 1.Y follows Kubernetes 1.Y. `main` is actively developed (✓); a minor
whose Kubernetes minor is still supported is maintained by hand, bug fixes
only (=); every other minor is end of life. Kubernetes' dates live in
`crio/data/kubernetes-releases.toml`, so updating the policy is a data edit.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from importlib import resources
from pathlib import Path

from crio.artifacts import release_branch
from crio.errors import UsageError

DATA_FILE = "kubernetes-releases.toml"


@dataclass(frozen=True)
class KubernetesRelease:
    minor: tuple[int, int]
    released: date
    end_of_life: date

    @property
    def series(self) -> str:
        return f"{self.minor[0]}.{self.minor[1]}"


class Status(Enum):
    ACTIVE = "✓"
    MAINTAINED = "="
    END_OF_LIFE = "✗"

    @property
    def description(self) -> str:
        return {
            Status.ACTIVE: "actively developed; changes land here first",
            Status.MAINTAINED: "maintained by hand, bug fixes only",
            Status.END_OF_LIFE: "end of life",
        }[self]


@dataclass(frozen=True)
class BranchStatus:
    version: str
    branch: str
    kubernetes: str
    status: Status
    end_of_life: date | None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "version": self.version,
            "branch": self.branch,
            "kubernetes": self.kubernetes,
            "status": self.status.name.lower().replace("_", "-"),
            "symbol": self.status.value,
            "end_of_life": self.end_of_life.isoformat() if self.end_of_life else None,
        }


def parse_releases(text: str) -> list[KubernetesRelease]:
    """Parse and check the data file: unique minors, release before end of life, ascending."""
    data = tomllib.loads(text)
    releases = []
    for entry in data.get("release", []):
        major, _, minor = str(entry["minor"]).partition(".")
        released, eol = entry["released"], entry["end_of_life"]
        if not (isinstance(released, date) and isinstance(eol, date)):
            raise ValueError(f"Kubernetes {entry['minor']}: released and end_of_life must be dates")
        if eol <= released:
            raise ValueError(f"Kubernetes {entry['minor']}: end of life {eol} is not after release {released}")
        releases.append(KubernetesRelease((int(major), int(minor)), released, eol))
    minors = [r.minor for r in releases]
    if minors != sorted(set(minors)):
        raise ValueError("Kubernetes minors must be unique and listed in ascending order")
    if not releases:
        raise ValueError("no [[release]] entries")
    return releases


def load_releases(path: Path | None = None) -> list[KubernetesRelease]:
    """The shipped data file, or another one (for tests and what-if runs)."""
    if path is not None:
        return parse_releases(path.read_text(encoding="utf-8"))
    return parse_releases(resources.files("crio").joinpath("data", DATA_FILE).read_text(encoding="utf-8"))


def branch_statuses(on: date, releases: list[KubernetesRelease], include_eol: bool = False) -> list[BranchStatus]:
    """Each CRI-O branch's status on `on`, newest first: main, then the released minors."""
    released = [r for r in releases if r.released <= on]
    if not released:
        raise ValueError(f"no Kubernetes minor had been released by {on.isoformat()}")
    rows = [
        BranchStatus(
            version="CRI-O HEAD",
            branch="main",
            kubernetes="Kubernetes master branch",
            status=Status.ACTIVE,
            end_of_life=None,
        )
    ]
    for rel in reversed(released):
        status = Status.MAINTAINED if on < rel.end_of_life else Status.END_OF_LIFE
        if status is Status.END_OF_LIFE and not include_eol:
            continue
        rows.append(
            BranchStatus(
                version=f"CRI-O {rel.series}.x",
                branch=release_branch(rel.series),
                kubernetes=f"Kubernetes {rel.series} branch, v{rel.series}.x",
                status=status,
                end_of_life=rel.end_of_life,
            )
        )
    return rows


def render_markdown(rows: list[BranchStatus]) -> str:
    """The README table: `Version - Branch | Kubernetes branch/version | Maintenance status`, and its key."""
    lines = [
        "| Version - Branch | Kubernetes branch/version | Maintenance status |",
        "| ---------------- | ------------------------- | ------------------ |",
    ]
    lines += [f"| {r.version} - {r.branch} | {r.kubernetes} | {r.status.value} |" for r in rows]
    used = []
    for row in rows:
        if row.status not in used:
            used.append(row.status)
    lines.append("")
    lines += [f"{s.value} {s.description}" for s in used]
    return "\n".join(lines) + "\n"


def render_json(on: date, rows: list[BranchStatus]) -> str:
    return json.dumps({"date": on.isoformat(), "branches": [r.as_dict() for r in rows]}, indent=2) + "\n"


#: Output formats of the support table.
FORMATS: tuple[str, ...] = ("markdown", "json")


def support_report(on: date | None = None, fmt: str = "markdown", include_eol: bool = False,
                   data_file: Path | None = None) -> str:
    """The support table of day `on` (default: today, UTC) as text; bad data or a day before any
    Kubernetes release is a one-line UsageError."""
    day = on or datetime.now(UTC).date()
    try:
        rows = branch_statuses(day, load_releases(data_file), include_eol=include_eol)
    except KeyError as exc:
        raise UsageError(f"Kubernetes release data {data_file or DATA_FILE}: a [[release]] lacks {exc}") from None
    except ValueError as exc:
        raise UsageError(f"Kubernetes release data {data_file or DATA_FILE}: {exc}") from None
    return render_markdown(rows) if fmt == "markdown" else render_json(day, rows)
