"""A bundle tarball made of the real in-bundle install script and files, for installs as a node sees them."""

from __future__ import annotations

import tarfile
from collections.abc import Mapping
from pathlib import Path

from crio.artifacts import tarball_name
from helpers.bundle_install import make_bundle_tree
from helpers.get_fixtures import write_side_files


def real_bundle_tarball(root: Path, revision: str, files: Mapping[str, bytes], arch: str = "amd64") -> Path:
    """`root/build/cri-o.ARCH.REVISION.tar.gz` (+ .sha256sum): the real files plus `files`, uid 0, sorted,
    manifest.json last (the order the bundle builder writes)."""
    tree = make_bundle_tree(root / revision, files, via_tar=False)
    tarball = root / "build" / tarball_name(arch, revision)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    members = [*sorted(p for p in tree.rglob("*") if p.name != "manifest.json"), tree / "manifest.json"]
    with tarfile.open(tarball, "w:gz", format=tarfile.GNU_FORMAT) as tf:
        tf.add(tree, arcname="cri-o", recursive=False)
        for path in members:
            info = tf.gettarinfo(path, arcname=f"cri-o/{path.relative_to(tree).as_posix()}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with open(path, "rb") as handle:
                    tf.addfile(info, handle)
            else:
                tf.addfile(info)
    write_side_files(tarball)
    return tarball
