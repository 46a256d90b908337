# Static crio and pinns for each bundle architecture, from the pins in the
# bundle spec. Not a flake: build one architecture with
#
#   nix-build nix -A amd64          # -> result/bin/crio, result/bin/pinns
#   nix-build nix -A arm64 --arg spec ./my-spec.toml
#
# UNTESTED HERE: this file imports nixpkgs, which the machine that wrote it
# cannot fetch. Only nix/pins.nix (the pure half) is evaluated by the tests.
{ spec ? ../release/crio_release/specs/production.toml
, # The machine doing the build; other architectures are cross-compiled.
  system ? builtins.currentSystem
}:
let
  pins = import ./pins.nix { inherit spec; };

  nixpkgsSrc = builtins.fetchTarball {
    name = "nixpkgs-pinned";
    inherit (pins.nixpkgs) url sha256;
  };

  pkgs = import nixpkgsSrc {
    localSystem = { inherit system; };
    config = { };
    overlays = [ ];
  };

  crioSrc = builtins.fetchTarball {
    name = "${pins.crioSource.repo}-${pins.crioSource.rev}";
    inherit (pins.crioSource) url sha256;
  };

  # musl, fully static: native pkgsStatic when the builder is that system,
  # otherwise the matching cross package set made static.
  staticPkgsFor = arch:
    if pkgs.stdenv.buildPlatform.system == arch.system
    then pkgs.pkgsStatic
    else pkgs.pkgsCross.${arch.crossAttr}.pkgsStatic;

  buildFor = name: arch:
    (staticPkgsFor arch).callPackage ./crio.nix {
      src = crioSrc;
      inherit (pins) version sourceDateEpoch;
      inherit (pins.crioSource) rev;
      bundleArch = name;
    };
in
builtins.mapAttrs buildFor pins.architectures
