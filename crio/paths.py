"""Path rules for what an installer takes from the environment or finds under DESTDIR.

One definition, used by crio-get and by the record reader/writer, and copied in
bash by scripts/get and the in-bundle install script (held to this module by
tests/get/test_get_contract.py through `--contract check_path_variable`):

- a path variable (PREFIX, BINDIR, ... STATEDIR) is absolute and normalised: no
  `.`, `..` or empty component, no trailing `/`; its characters are letters,
  digits and `. _ + , : = ~ & -`, because the install script renders it into a
  systemd unit, TOML and shell-style files, where a space, quote, backslash,
  `%`, `$`, `#`, `;` or `@` would change the meaning. Refusing those is simpler
  and surer than escaping them per format. STATEDIR is not `/` itself.
- DESTDIR is empty, `/` (both meaning the real root) or absolute and
  normalised; it is never rendered, so any character but tab and newline
  (and NUL, which no environment carries) is accepted.
- A path read from the node (record row, journal line) is absolute and
  normalised and not `/`.
"""

from __future__ import annotations

import os
import re

from crio.artifacts import INSTALL_VARIABLES
from crio.errors import CrioError, ExitCode

#: The characters of one component of a path variable (bash: PATH_VAR_COMPONENT_RE).
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9._+,:=~&-]+$")
PATH_VARIABLE_ACCEPTED = ("an absolute path such as /usr/local: no '.', '..', empty component or trailing '/', "
                          "only letters, digits and . _ + , : = ~ & -")
DESTDIR_ACCEPTED = "an absolute path without '.', '..', empty components, trailing '/', tab or newline"


def normalisation_error(path: str) -> str | None:
    """Why `path` is not an absolute normalised path (None when it is; `/` alone is)."""
    if not path.startswith("/"):
        return "not absolute"
    if any(c in path for c in "\0\n\t"):
        return "a NUL, newline or tab in it"
    if path == "/":
        return None
    for component in path[1:].split("/"):
        if component == "":
            return "an empty component"
        if component in (".", ".."):
            return f"a '{component}' component"
    return None


def check_path_variable(name: str, value: str) -> str:
    """The value of a path variable, or UsageError naming it, what is wrong and what is accepted.

    DESTDIR has its own, wider rule (check_destdir).
    """
    if name == "DESTDIR":
        return check_destdir(value)
    why = normalisation_error(value)
    if why is None and value != "/":
        bad = sorted({c for c in value if c != "/" and not _COMPONENT_RE.match(c)})
        if bad:
            why = "the character " + " ".join(repr(c) for c in bad)
    if why is None and name == "STATEDIR" and value == "/":
        why = "the install state needs a directory of its own"
    if why is not None:
        shown = value.encode("unicode_escape").decode()
        raise CrioError(f"{name}='{shown}' is not accepted ({why}): use {PATH_VARIABLE_ACCEPTED}", ExitCode.USAGE)
    return value


def check_destdir(value: str) -> str:
    """DESTDIR as the installers use it: '' for the real root ('' and '/'), else the path as given."""
    if value in ("", "/"):
        return ""
    why = normalisation_error(value)
    if why is not None:
        shown = value.encode("unicode_escape").decode()
        raise CrioError(f"DESTDIR='{shown}' is not accepted ({why}): use {DESTDIR_ACCEPTED}", ExitCode.USAGE)
    return value


def check_install_environment(environ: dict[str, str] | None = None) -> None:
    """Every path variable set (non-empty) in the environment, checked before anything is fetched."""
    env = os.environ if environ is None else environ
    for name in INSTALL_VARIABLES:
        value = env.get(name, "")
        if value:
            check_path_variable(name, value)


def is_below(path: str, root: str) -> bool:
    """Whether normalised `path` is strictly below normalised `root` ('' is the real root)."""
    return path.startswith(root.rstrip("/") + "/") and path != root
