"""The `crio-get` console script: the CLI imported with the cyclic garbage collector paused.

Importing crio_installer.cli creates ~100k long-lived objects (modules, functions, classes) and no
garbage, yet triggers some fifty collections that each walk the young ones (~8 ms of a run). So
the collector is paused for the import, what it built is moved out of its view (`gc.freeze`), and
it runs again, with its usual thresholds, for the install itself. Tests import crio_installer.cli
directly and keep the interpreter's default behaviour.
"""

from __future__ import annotations

import gc


def main(argv: list[str] | None = None) -> None:
    enabled = gc.isenabled()
    gc.disable()
    try:
        from crio_installer.cli import main as cli_main
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    cli_main(argv)
