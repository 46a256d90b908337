# Static crio and pinns for each bundle architecture, from the pins in the
# bundle spec. Not a flake: build one architecture with
#
#   nix-build nix -A amd64          # -> result/bin/crio, result/bin/pinns
#   nix-build nix -A arm64 --arg spec ./my-spec.toml
#
# UNTESTED HERE: this file imports nixpkgs, which the machine that wrote it
# cannot fetch. The tests evaluate nix/pins.nix (the pure half), fetch with
# nix/sources.nix from local tarballs, and read this file's attribute names.
{ spec ? ../release/crio_release/build/specs/production.toml
, # The machine doing the build; other architectures are cross-compiled.
  system ? builtins.currentSystem
}:
let
  pins = import ./pins.nix { inherit spec; };

  sources = import ./sources.nix { inherit pins; };

  pkgs = import sources.nixpkgs {
    localSystem = { inherit system; };
    config = { };
    overlays = [ ];
  };

  # musl, fully static: native pkgsStatic when the builder is that system,
  # otherwise the matching cross package set made static.
  staticPkgsFor = arch:
    if pkgs.stdenv.buildPlatform.system == arch.system
    then pkgs.pkgsStatic
    else pkgs.pkgsCross.${arch.crossAttr}.pkgsStatic;

  buildFor = name: arch:
    (staticPkgsFor arch).callPackage ./crio.nix {
      src = sources.crio;
      inherit (pins) version sourceDateEpoch;
      inherit (pins.crioSource) rev;
      bundleArch = name;
    };
in
builtins.mapAttrs buildFor pins.architectures
