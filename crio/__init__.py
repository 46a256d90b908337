"""The CRI-O release toolkit's shared contract: version, architectures, revisions, bucket layout, policy."""

from crio.version import version

__all__ = ["__version__"]
__version__ = str(version())
