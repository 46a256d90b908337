"""Publishing: the storage layer, upload of a complete revision, markers, verification and signing."""
