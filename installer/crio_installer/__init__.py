"""The node side in Python: resolve, download, verify and install a CRI-O bundle (`crio-get`)."""
