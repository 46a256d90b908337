"""The CRI-O release toolkit's shared contract: version, architectures, revisions, bucket layout, policy."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """`__version__` read on first use (PEP 562): importing crio.version costs every process (crio-get too)
    ~10 ms of importlib.resources, json and subprocess it does not otherwise need."""
    if name == "__version__":
        from crio.version import version

        value = str(version())
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
