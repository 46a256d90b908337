# The pure half of the CRI-O nix build: pins, attribute names and the
# architecture -> nix system mapping. It reads the ONE spec the bundle builder
# reads and imports nothing else (no nixpkgs, no fetch), so the test command can
# evaluate it with `nix-instantiate --eval --strict --json` on a machine without
# nixpkgs or network. Every consistency check is an assert/throw here, so a pin
# mismatch fails evaluation before anything is fetched or built.
{ spec ? ../release/crio_release/build/specs/production.toml }:
let
  specFile = toString spec;
  data = builtins.fromTOML (builtins.readFile spec);

  fail = msg: throw "nix/pins.nix: ${specFile}: ${msg}";

  need = set: path: key:
    if builtins.isAttrs set && builtins.hasAttr key set then set.${key}
    else fail "missing key ${path}.${key}";

  needString = set: path: key:
    let v = need set path key; in
    if builtins.isString v && v != "" then v
    else fail "${path}.${key} must be a non-empty string";

  nixTable = need data "spec" "nix";
  nixpkgsTable = need nixTable "nix" "nixpkgs";
  sourceTable = need nixTable "nix" "crio-source";

  hasSuffix = suffix: s:
    let n = builtins.stringLength s; k = builtins.stringLength suffix; in
    n >= k && builtins.substring (n - k) k s == suffix;
  isRev = s: builtins.match "[0-9a-f]{40}" s != null;
  # fetchTarball hashes: nix base32 (52 chars), hex (64) or SRI `sha256-...`.
  isHash = s: builtins.match "[0-9a-df-np-sv-z]{52}|[0-9a-f]{64}|sha256-[A-Za-z0-9+/]{43}=" s != null;
  checkHash = path: s: if isHash s then s
    else fail "${path}.sha256 ${builtins.toJSON s} is not a nix sha256 (52-char base32, 64 hex or sha256-<base64>)";

  nixpkgs = {
    url = needString nixpkgsTable "nix.nixpkgs" "url";
    sha256 = checkHash "nix.nixpkgs" (needString nixpkgsTable "nix.nixpkgs" "sha256");
  };

  crioSource = let t = sourceTable; p = "nix.crio-source"; in {
    owner = needString t p "owner";
    repo = needString t p "repo";
    tag = needString t p "tag";
    # A commit, or the tag itself when the commit is not known: the sha256
    # pins the content either way.
    rev = let r = needString t p "rev"; in
      if isRev r || r == t.tag or null then r
      else fail "${p}.rev ${builtins.toJSON r} is neither a 40-hex commit nor the tag";
    # The archive of that very revision, so url and rev cannot drift apart.
    url = let u = needString t p "url"; suffix = "/${t.rev or ""}.tar.gz"; in
      if hasSuffix suffix u then u
      else fail "${p}.url ${builtins.toJSON u} must end with ${builtins.toJSON suffix} (the archive of rev)";
    sha256 = checkHash p (needString t p "sha256");
  };

  # Bundle architecture -> how nix builds it. `system` is the nix system that
  # builds natively; `crossAttr` the pkgsCross entry used from any other host;
  # both are then made static (musl) with `.pkgsStatic`.
  architectures = {
    amd64 = { system = "x86_64-linux"; crossAttr = "musl64"; config = "x86_64-unknown-linux-musl"; elfMachine = 62; };
    arm64 = { system = "aarch64-linux"; crossAttr = "aarch64-multiplatform-musl"; config = "aarch64-unknown-linux-musl"; elfMachine = 183; };
  };
  attributes = builtins.attrNames architectures;

  # What every per-architecture output holds, and which component each file is.
  outputs = { crio = "bin/crio"; pinns = "bin/pinns"; };
  members = builtins.attrValues outputs;

  componentList =
    let c = data.component or (fail "no [[component]] entries"); in
    if builtins.isList c then c else fail "component must be an array of tables ([[component]])";
  componentNamed = name:
    let hits = builtins.filter (c: (c.name or null) == name) componentList; in
    if builtins.length hits == 1 then builtins.head hits
    else fail "expected exactly one [[component]] named ${name}, found ${toString (builtins.length hits)}";

  # Each nix-built component must take, for each architecture, its own file
  # from that architecture's attribute: source.amd64 = { nix = "amd64"; member = "bin/crio"; }.
  nixSource = name: arch:
    let
      comp = componentNamed name;
      src = ((comp.source or { }).${arch} or (fail "component ${name} has no source.${arch}"));
      want = { nix = arch; member = outputs.${name}; };
    in
    if (src.nix or null) == want.nix && (src.member or null) == want.member then want
    else fail "component ${name} source.${arch} must be nix = ${builtins.toJSON want.nix}, member = ${builtins.toJSON want.member} (found ${builtins.toJSON src})";

  components = builtins.mapAttrs (name: _: {
    version = needString (componentNamed name) "component ${name}" "version";
    sources = builtins.mapAttrs (arch: _: nixSource name arch) architectures;
  }) outputs;

  tagVersion = let t = crioSource.tag; in
    if builtins.substring 0 1 t == "v" then builtins.substring 1 (builtins.stringLength t) t
    else fail "nix.crio-source.tag ${builtins.toJSON t} must start with v";

  # crio and pinns are both built from the pinned source: their versions are its tag.
  sameVersion = name:
    let v = components.${name}.version; in
    if v == tagVersion then true
    else fail "component ${name} version ${builtins.toJSON v} differs from nix.crio-source.tag ${builtins.toJSON crioSource.tag}; they must be one pin";
  version = assert builtins.all sameVersion (builtins.attrNames outputs); tagVersion;
in
# Force every check before any value is handed out.
assert builtins.deepSeq [ nixpkgs crioSource components version ] true;
{
  inherit nixpkgs crioSource architectures attributes outputs members components version;
  # Binaries carry no build time: SOURCE_DATE_EPOCH is fixed.
  sourceDateEpoch = 0;
}
