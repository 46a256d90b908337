# Fetch the two pinned inputs with builtins only (no nixpkgs needed), each
# checked against the spec's nix sha256 (NAR hash of the unpacked tarball;
# base32, hex or SRI). Separate from default.nix so the tests can prove the
# fetch-and-verify step with local file:// tarballs.
{ pins }:
{
  nixpkgs = builtins.fetchTarball {
    name = "nixpkgs-source";
    inherit (pins.nixpkgs) url sha256;
  };
  crio = builtins.fetchTarball {
    name = "${pins.crioSource.repo}-${pins.crioSource.rev}-source";
    inherit (pins.crioSource) url sha256;
  };
}
