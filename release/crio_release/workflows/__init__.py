"""Workflows that compose build, publish and git steps: reconcile and the demo."""
