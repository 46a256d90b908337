"""Write (or check) the public-good trusted root embedded in scripts/get.

scripts/get verifies keyless signatures with openssl alone when cosign is
absent; its root of trust must be the very one crio/keyless uses, the
trusted_root.json shipped inside the installed `sigstore` package. This
copies that file into the heredoc of `keyless_public_good_root`, so a
sigstore upgrade that rotates a key is one `make embedded-trusted-root` away,
and `--check` (run by the tests) fails while the two differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from crio.keyless.trust import PUBLIC_GOOD, embedded_trusted_root_json

SCRIPT = Path(__file__).resolve().parent / "get"
BEGIN = "keyless_public_good_root() {\n    cat <<'TRUSTED_ROOT_JSON'\n"
END = "TRUSTED_ROOT_JSON\n}\n"


def embedded_block(script_text: str) -> str:
    """The trusted_root.json text between the markers of scripts/get."""
    start = script_text.index(BEGIN) + len(BEGIN)
    return script_text[start:script_text.index(END, start)]


def render(script_text: str) -> str:
    """scripts/get's text with the block replaced by the sigstore package's trusted root."""
    root = embedded_trusted_root_json(PUBLIC_GOOD).decode()
    if not root.endswith("\n"):
        root += "\n"
    start = script_text.index(BEGIN) + len(BEGIN)
    return script_text[:start] + root + script_text[script_text.index(END, start):]


def main(argv: list[str]) -> int:
    text = SCRIPT.read_text(encoding="utf-8")
    wanted = render(text)
    if argv[1:] == ["--check"]:
        if wanted != text:
            print("scripts/get's embedded trusted root differs from the sigstore package's: "
                  "run `make embedded-trusted-root`", file=sys.stderr)
            return 1
        return 0
    if wanted != text:
        SCRIPT.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
