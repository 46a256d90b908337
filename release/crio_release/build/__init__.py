"""Building bundles: spec, pins, sources, checks, ELF and nix, the reproducible tarball, the SBOM, files shipped inside."""
