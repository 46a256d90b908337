"""The CRI-O release pipeline: bundles, publishing, and the release managers' git commands."""
