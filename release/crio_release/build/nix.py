"""The `nix` source kind: build (or reuse) a nix output and check what it holds.

Why: crio and pinns must be static binaries of the bundle's architecture. They
come straight from `nix-build nix -A <arch>` (see nix/README.md), whose pins are
read from the same spec file the bundle builder reads; this module runs that
build, finds the output, and refuses an output that is not what the bundle
needs (wrong ELF machine, dynamically linked, member missing) with one line
naming the nix attribute.

Every failure is a `CrioError`: BUILD for a failed build, a missing output or
member, or a dynamically linked binary; ELF_MACHINE for a binary of another
architecture (the builder's code for that class); MISSING_TOOL when nix-build
is absent. The pins nix reads are checked before any build, in pins.py; the
ELF headers are read by elf.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from crio.errors import CrioError, ExitCode
from crio_release.build.elf import check_static_elf

#: A nix attribute name, and a name `--argstr` may set.
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_'-]*$")


def nix_output(
    attr: str,
    *,
    nix_dir: Path,
    nix_result: Path | None = None,
    spec: Path | None = None,
    args: Mapping[str, str] | None = None,
) -> Path:
    """The output directory of nix attribute `attr`, built now or taken from `nix_result`.

    `nix_result` (the CLI's `--nix-result DIR`) is an existing build: either a
    directory holding one link per attribute, `result-<attr>` (what
    `nix-build nix -A amd64 -o DIR/result-amd64` makes) or `<attr>`, or else the
    output directory itself (then `check_static_elf` refuses the other
    architectures' members). Without it, runs
    `nix-build NIX_DIR -A ATTR --no-out-link --option substituters ''`, with
    `--argstr spec SPEC` so nix reads the very spec the bundle is built from,
    plus `--argstr NAME VALUE` for each entry of `args`.
    """
    if not _NAME_RE.match(attr):
        raise CrioError(f"invalid nix attribute {attr!r}: expected a name such as amd64", ExitCode.USAGE)
    if nix_result is not None:
        return _existing_result(attr, Path(nix_result))
    return _build(attr, Path(nix_dir), spec, args or {})


def _existing_result(attr: str, root: Path) -> Path:
    if not root.is_dir():
        raise CrioError(f"nix attribute {attr}: nix result {root} is not a directory", ExitCode.BUILD)
    for candidate in (root / f"result-{attr}", root / attr):
        if candidate.exists():
            if not candidate.is_dir():
                raise CrioError(f"nix attribute {attr}: {candidate} is not a build output directory", ExitCode.BUILD)
            return candidate.resolve()
    return root.resolve()


def _build(attr: str, nix_dir: Path, spec: Path | None, args: Mapping[str, str]) -> Path:
    nix_build = shutil.which("nix-build")
    if nix_build is None:
        raise CrioError(
            f"nix attribute {attr}: nix-build not found on PATH; install nix (Debian: nix-bin) "
            "or pass --nix-result DIR with an existing build",
            ExitCode.MISSING_TOOL,
        )
    if not nix_dir.exists():
        raise CrioError(f"nix attribute {attr}: nix expression {nix_dir} does not exist", ExitCode.BUILD)
    command = [nix_build, str(nix_dir), "-A", attr, "--no-out-link", "--option", "substituters", ""]
    if spec is not None:
        command += ["--argstr", "spec", str(Path(spec).resolve())]
    for name, value in args.items():
        if not _NAME_RE.match(name):
            raise CrioError(f"invalid nix argument name {name!r}", ExitCode.USAGE)
        command += ["--argstr", name, str(value)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CrioError(
            f"nix attribute {attr}: nix-build {nix_dir} failed (exit {proc.returncode}): {_nix_error(proc.stderr)}",
            ExitCode.BUILD,
        )
    paths = [line for line in proc.stdout.splitlines() if line.startswith("/")]
    if len(paths) != 1 or not Path(paths[0]).is_dir():
        raise CrioError(
            f"nix attribute {attr}: expected one output directory from nix-build, got {proc.stdout.strip()!r}",
            ExitCode.BUILD,
        )
    return Path(paths[0])


def _nix_error(stderr: str) -> str:
    """The one line of nix's stderr that says what went wrong, with the build log's last line if any."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    at = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if at is None:
        return (lines[-1] if lines else "no output")[:400]
    message = lines[at].removeprefix("error:").strip()
    after = lines[at + 1 :]
    if not message:  # some nix versions put the message on the following lines
        message = next((r for r in after if not r.startswith(("at ", "…", "("))), "")
    if message.startswith("builder for"):
        # The log is either quoted after the error ("> ...") or printed before it.
        quoted = [r.removeprefix(">").strip() for r in after if r.startswith(">")]
        log = quoted or [r for r in lines[:at] if not r.startswith(("building '", "these ", "this derivation", "/nix/store/"))]
        if log and log[-1]:
            message += f"; last log line: {log[-1]}"
    return message[:600]


def nix_member(
    attr: str,
    member: str,
    arch: str,
    *,
    nix_dir: Path,
    nix_result: Path | None = None,
    spec: Path | None = None,
    args: Mapping[str, str] | None = None,
) -> Path:
    """One checked file of a nix output: exists, is a static ELF of `arch`. What a `nix` source yields."""
    out = nix_output(attr, nix_dir=nix_dir, nix_result=nix_result, spec=spec, args=args)
    path = out / member
    if not path.is_file():
        raise CrioError(
            f"nix attribute {attr}: output {out} has no member {member} (expected a file such as bin/crio)",
            ExitCode.BUILD,
        )
    check_static_elf(path, arch, label=f"nix attribute {attr}: {member}")
    return path
