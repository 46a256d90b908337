"""Thin click commands of `crio-release`: parse options, call the library, map errors to exit codes."""
