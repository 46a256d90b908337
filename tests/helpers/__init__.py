"""Test helpers shared across areas (real servers, emulators, bundle fixtures)."""
