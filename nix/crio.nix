# One architecture's static crio and pinns, called from a static (musl)
# package set by nix/default.nix. Output layout: $out/bin/crio, $out/bin/pinns,
# and crio's documentation as upstream's bundle carries it:
# $out/share/man/man8/crio.8, $out/share/man/man5/crio.conf.5 and crio.conf.d.5
# (rendered from docs/*.md with go-md2man, as CRI-O's `make docs` does), and
# $out/completions/{bash/crio,fish/crio.fish,zsh/_crio} (from the source tree).
# The bundle spec names these paths (crio_release.build.pins.NIX_DOCS).
#
# UNTESTED HERE (no nixpkgs on the machine that wrote it); see nix/README.md.
{ lib
, stdenv
, buildGoModule
, pkg-config
, which
, go-md2man
, libseccomp
, src
, version
, rev
, sourceDateEpoch
, bundleArch
}:
buildGoModule {
  pname = "cri-o-static-${bundleArch}";
  inherit version src;

  # CRI-O vendors its Go modules: build from vendor/, fetch nothing.
  vendorHash = null;
  doCheck = false;
  enableParallelBuilding = true;

  nativeBuildInputs = [ pkg-config which go-md2man ];
  # Signature checks use the pure-Go openpgp (containers_image_openpgp tag),
  # so the only C library linked in is libseccomp, static from pkgsStatic.
  buildInputs = [ libseccomp ];

  env = {
    CGO_ENABLED = "1";
    # No build time in the binaries.
    SOURCE_DATE_EPOCH = toString sourceDateEpoch;
  };

  # Passed on make's command line so they win over what the CRI-O Makefile
  # would compute with git (a tarball has no .git) or the clock.
  buildPhase = let
    buildTags = "static netgo osusergo exclude_graphdriver_btrfs exclude_graphdriver_devicemapper seccomp containers_image_openpgp";
    extraLdflags = "-s -w -linkmode external -extldflags '-static -lm'";
  in ''
    runHook preBuild
    make bin/crio bin/pinns \
      CC=${stdenv.cc.targetPrefix}cc \
      GIT_COMMIT=${rev} \
      COMMIT_NO=${rev} \
      GIT_TREE_STATE=clean \
      SOURCE_DATE_EPOCH=${toString sourceDateEpoch} \
      BUILDTAGS=${lib.escapeShellArg buildTags} \
      EXTRA_LDFLAGS=${lib.escapeShellArg extraLdflags}
    for page in crio.8 crio.conf.5 crio.conf.d.5; do
      go-md2man -in "docs/$page.md" -out "docs/$page"
    done
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    install -Dm755 bin/crio $out/bin/crio
    install -Dm755 bin/pinns $out/bin/pinns
    install -Dm644 docs/crio.8 $out/share/man/man8/crio.8
    install -Dm644 docs/crio.conf.5 $out/share/man/man5/crio.conf.5
    install -Dm644 docs/crio.conf.d.5 $out/share/man/man5/crio.conf.d.5
    install -Dm644 completions/bash/crio $out/completions/bash/crio
    install -Dm644 completions/fish/crio.fish $out/completions/fish/crio.fish
    install -Dm644 completions/zsh/_crio $out/completions/zsh/_crio
    runHook postInstall
  '';

  meta = {
    description = "CRI-O ${version} (${rev}) static crio and pinns for ${bundleArch}";
    license = lib.licenses.asl20;
    platforms = lib.platforms.linux;
  };
}
