"""A test spec with the production spec's layout, built here without network, and upstream's install shape.

`write_layout_spec` copies the production spec component by component, keeping
every name, dest, mode and `provides`, and replaces each download and nix
source by a local stand-in of the same shape (an ELF header of the right
machine for binaries, a directory of the members' base names for multi-file
sources); this repository's own files (path and build sources) stay as they
are. Each path the production spec names as an upstream gap gets a stand-in
component of its own, so the bundle holds every path upstream's install
script reads. The result asks for `upstream_layout = true`, so the builder
holds it to the same rule as production.

UPSTREAM_INSTALL is the install script shaped like upstream's (written from
the facts file), to run against such a bundle.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from crio_release.build.pins import PRODUCTION_SPEC
from crio_release.build.spec import Component, Source, load_spec

from crio.arch import ELF_MACHINES
from helpers.bundles import fake_elf

UPSTREAM_INSTALL = Path(__file__).resolve().parent / "upstream_install.sh"
FILES_DIR = PRODUCTION_SPEC.parent.parent / "files"


def _standin(path: Path, name: str, executable: bool, arch: str) -> None:
    """A stand-in file: an ELF of `arch`'s machine when executable, else text naming it."""
    if executable:
        fake_elf(path, ELF_MACHINES[arch], f"stand-in {name}\n".encode())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"stand-in {name} ({arch})\n")


def _local_source(component: Component, source: Source, arch: str, root: Path) -> str:
    """The TOML of a path source standing in for a download or nix source of `component`."""
    executable = bool(component.mode & 0o111)
    base = root / "standins" / component.name
    if source.members and not source.single_member:
        for provided in component.provides:   # directory members: the files the spec says they hold
            _standin(base / provided.removeprefix(component.dest + "/"), provided, executable, arch)
        for member in source.members:
            name = PurePosixPath(member).name
            if not (base / name).exists():
                _standin(base / name, f"{component.name}/{name}", executable, arch)
    else:
        _standin(base, component.name, executable, arch)
    return f"path = {json.dumps(f'../standins/{component.name}')}"


def _component_toml(component: Component, arch: str, root: Path) -> str:
    lines = ["[[component]]", f"name = {json.dumps(component.name)}", f"version = {json.dumps(component.version)}",
             f"license = {json.dumps(component.license)}", f"dest = {json.dumps(component.dest)}",
             f'mode = "{component.mode:04o}"']
    if component.provides:
        lines.append(f"provides = {json.dumps(list(component.provides))}")
    if component.templates:
        lines.append("templates = true")
    source = component.source_for(arch)
    if source.kind == "path":
        assert source.path is not None
        lines += ["[component.source.all]", f"path = {json.dumps('../files/' + source.path.name)}"]
    elif source.kind == "build":
        lines += ["[component.source.all]", f"build = {json.dumps(source.build)}"]
    else:
        lines += [f"[component.source.{arch}]", _local_source(component, source, arch, root)]
    return "\n".join(lines) + "\n"


def write_layout_spec(root: Path, arch: str = "amd64") -> Path:
    """Write the test spec (and its stand-ins) below `root`; returns its path (`root/specs/layout.toml`)."""
    production = load_spec(PRODUCTION_SPEC)
    (root / "specs").mkdir(parents=True)
    (root / "files").symlink_to(FILES_DIR)
    parts = ["schema = 1\nupstream_layout = true\n"]
    parts += [_component_toml(component, arch, root) for component in production.components]
    for path, _why in production.upstream_gaps:
        name = "standin-" + PurePosixPath(path).name
        _standin(root / "standins" / name, name, True, arch)
        parts.append(f'[[component]]\nname = "{name}"\nversion = "0"\nlicense = "Apache-2.0"\n'
                     f'dest = {json.dumps(path)}\nmode = "0755"\n'
                     f'[component.source.{arch}]\npath = "../standins/{name}"\n')
    spec = root / "specs" / "layout.toml"
    spec.write_text("\n".join(parts))
    return spec
