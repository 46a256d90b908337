"""A stand-in for `cosign verify-blob`, for scripts/get's cosign path (no real cosign can be installed here).

It is not cosign: it reads the flags scripts/get's keyless_verify passes (cosign's spelling), refuses
any call that is not offline, logs its argv, and verifies with crio.keyless (the verifier crio-get
uses). What it proves is the bash side: which flags and files reach cosign, and that its answer
(exit status, bundle) decides the outcome. The real cosign's behaviour is untested (README).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path

SCRIPT = """#!{python}
import sys
sys.path.insert(0, {helpers!r})
from cosign_standin import main
sys.exit(main(sys.argv[1:]))
"""


def install_standin(directory: Path) -> Path:
    """Write an executable `cosign` into `directory`; its calls are logged to `directory/cosign.log`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cosign"
    path.write_text(SCRIPT.format(python=sys.executable, helpers=str(Path(__file__).resolve().parent)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def main(argv: list[str]) -> int:
    from crio.errors import CrioError
    from crio.keyless import IdentityPolicy, load_trusted_root, verify_bundle, verify_detached

    log = Path(os.path.realpath(sys.argv[0])).parent / "cosign.log"
    with log.open("a") as handle:
        handle.write(json.dumps(argv) + "\n")
    if not argv or argv[0] != "verify-blob":
        print("Error: the stand-in knows only verify-blob", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(prog="cosign verify-blob")
    for flag in ("--offline", "--certificate-identity", "--certificate-identity-regexp", "--certificate-oidc-issuer",
                 "--certificate-github-workflow-repository", "--trusted-root", "--bundle", "--signature",
                 "--certificate"):
        parser.add_argument(flag)
    parser.add_argument("artifact")
    args = parser.parse_args(argv[1:])
    if args.offline != "true":
        print("Error: the stand-in verifies offline only (--offline=true)", file=sys.stderr)
        return 1
    try:
        policy = IdentityPolicy(identity=args.certificate_identity, identity_regexp=args.certificate_identity_regexp,
                                issuer=args.certificate_oidc_issuer,
                                github_workflow_repository=args.certificate_github_workflow_repository)
        root = load_trusted_root(Path(args.trusted_root) if args.trusted_root else None)
        artifact = Path(args.artifact)
        if args.bundle:
            verify_bundle(artifact, Path(args.bundle).read_bytes(), policy, trusted_root=root)
        else:
            verify_detached(artifact, Path(args.signature).read_bytes(), Path(args.certificate).read_bytes(), None,
                            policy, trusted_root=root)
    except CrioError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return 1
    print("Verified OK", file=sys.stderr)
    return 0
