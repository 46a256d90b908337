"""A local Sigstore instance made by the tests: a Fulcio-like CA chain, a CT log and a Rekor-like log.

Everything a verifier checks is produced for real with `cryptography`: leaf
certificates with Fulcio's identity extensions and an embedded SCT signed
by the local CT log key over the precertificate, hashedrekord log entries in
a real RFC 6962 Merkle tree with an inclusion proof, a signed checkpoint
(signed note) and a signed entry timestamp, and a `trusted_root.json` that
names these keys and certificates. Nothing in the code under test knows
this instance exists; it is trusted only through the file.

Each bad case is built by changing exactly one fact (who, which issuer,
when, which body, which root), so a refusal can only come from that fact.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_SCT_OID = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_REPOSITORY_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.5")
_REF_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.6")
_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _utf8_der(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


def _octet_der(raw: bytes) -> bytes:
    if len(raw) < 128:
        return bytes([0x04, len(raw)]) + raw
    size = len(raw).to_bytes((len(raw).bit_length() + 7) // 8, "big")
    return bytes([0x04, 0x80 | len(size)]) + size + raw


# RFC 6962 Merkle tree -------------------------------------------------------------------


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]), bottom to top."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_path(index, leaves[:k]), merkle_root(leaves[k:])]
    return [*inclusion_path(index - k, leaves[k:]), merkle_root(leaves[:k])]


# The instance -----------------------------------------------------------------------------


@dataclass
class Signed:
    """One keyless signature of an artifact, in every shape the verifiers read."""

    artifact: bytes
    cert: x509.Certificate
    signature: bytes
    body: bytes
    integrated_time: int
    log_index: int
    set_signature: bytes
    proof: dict
    log_id: bytes

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def tlog_entry(self) -> dict:
        return {
            "logIndex": str(self.log_index), "logId": {"keyId": _b64(self.log_id)},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
            "integratedTime": str(self.integrated_time),
            "inclusionPromise": {"signedEntryTimestamp": _b64(self.set_signature)},
            "inclusionProof": self.proof, "canonicalizedBody": _b64(self.body),
        }

    def bundle_v03(self) -> bytes:
        """The Sigstore bundle JSON cosign v3 writes to NAME.bundle."""
        return json.dumps({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": _b64(self.cert.public_bytes(
                serialization.Encoding.DER))}, "tlogEntries": [self.tlog_entry()]},
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": _b64(
                hashlib.sha256(self.artifact).digest())}, "signature": _b64(self.signature)},
        }, indent=2).encode()

    def rekor_bundle(self) -> dict:
        return {"SignedEntryTimestamp": _b64(self.set_signature), "Payload": {
            "body": _b64(self.body), "integratedTime": self.integrated_time, "logIndex": self.log_index,
            "logID": self.log_id.hex()}}

    def cosign_bundle(self) -> bytes:
        """The older cosign bundle: base64Signature, cert (base64 of PEM), rekorBundle."""
        return json.dumps({"base64Signature": _b64(self.signature), "cert": _b64(self.cert_pem()),
                           "rekorBundle": self.rekor_bundle()}).encode()

    def sig_file(self) -> bytes:
        return _b64(self.signature).encode() + b"\n"

    def cert_file(self) -> bytes:
        return _b64(self.cert_pem()).encode() + b"\n"


@dataclass
class LocalSigstore:
    """Fulcio-like root + intermediate, a CT log key, a Rekor-like log key and the log itself."""

    name: str = "local"
    root_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    ca_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    ct_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    log_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    leaves: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root_cert = self._ca_cert(self.root_key, self.root_key, None, f"{self.name}-root", 1)
        self.ca_cert = self._ca_cert(self.ca_key, self.root_key, self.root_cert, f"{self.name}-intermediate", 0)
        # Other tenants of the log, so inclusion proofs have real siblings.
        self.leaves = [_leaf(f"filler {i}".encode()) for i in range(5)]

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(_spki(self.log_key)).digest()

    def _ca_cert(self, key, signer, issuer_cert, cn: str, path_length: int) -> x509.Certificate:
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.name),
                             x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer_cert.subject if issuer_cert else subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(_EPOCH).not_valid_after(_EPOCH + timedelta(days=365 * 30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer_cert is not None:
            builder = (builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer.public_key()), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False))
        return builder.sign(signer, hashes.SHA384())

    def trusted_root(self) -> dict:
        """trusted_root.json describing this instance (what `--trusted-root` is given)."""

        def log(key, url: str) -> dict:
            return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
                    "publicKey": {"rawBytes": _b64(_spki(key)), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                  "validFor": {"start": "2020-01-01T00:00:00Z"}},
                    "logId": {"keyId": _b64(hashlib.sha256(_spki(key)).digest())}}

        der = serialization.Encoding.DER
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(self.log_key, f"https://rekor.{self.name}.test")],
            "certificateAuthorities": [{
                "subject": {"organization": self.name, "commonName": f"{self.name}-root"},
                "uri": f"https://fulcio.{self.name}.test",
                "certChain": {"certificates": [{"rawBytes": _b64(self.ca_cert.public_bytes(der))},
                                               {"rawBytes": _b64(self.root_cert.public_bytes(der))}]},
                "validFor": {"start": "2020-01-01T00:00:00Z"}}],
            "ctlogs": [log(self.ct_key, f"https://ctfe.{self.name}.test")],
            "timestampAuthorities": [],
        }

    def write_trusted_root(self, path: Path) -> Path:
        path.write_text(json.dumps(self.trusted_root(), indent=2), encoding="utf-8")
        return path

    # Fulcio ------------------------------------------------------------------------------

    def issue(self, key: ec.EllipticCurvePrivateKey, identity: str, *, issuer: str = GITHUB_ISSUER,
              repository: str | None = None, ref: str | None = None,
              not_before: datetime | None = None) -> x509.Certificate:
        """A 10-minute code-signing certificate for `identity`, with an SCT from the local CT log."""
        start = not_before or datetime.now(UTC) - timedelta(minutes=1)
        san = (x509.RFC822Name(identity) if "@" in identity and "://" not in identity
               else x509.UniformResourceIdentifier(identity))
        builder = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + timedelta(minutes=10))
                   .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                                  critical=False)
                   .add_extension(x509.SubjectAlternativeName([san]), critical=True)
                   .add_extension(x509.UnrecognizedExtension(_ISSUER_V1, issuer.encode()), critical=False)
                   .add_extension(x509.UnrecognizedExtension(_ISSUER_V2, _utf8_der(issuer)), critical=False))
        if repository:
            builder = builder.add_extension(x509.UnrecognizedExtension(_REPOSITORY_V1, repository.encode()),
                                            critical=False)
        if ref:
            builder = builder.add_extension(x509.UnrecognizedExtension(_REF_V1, ref.encode()), critical=False)
        precert = builder.sign(self.ca_key, hashes.SHA384())
        sct = self._sct(precert.tbs_certificate_bytes, start + timedelta(seconds=1))
        return builder.add_extension(x509.UnrecognizedExtension(_SCT_OID, _octet_der(sct)),
                                     critical=False).sign(self.ca_key, hashes.SHA384())

    def _sct(self, tbs: bytes, when: datetime) -> bytes:
        """An RFC 6962 SCT list holding one precertificate SCT signed by the CT log key."""
        millis = int(when.timestamp() * 1000)
        issuer_hash = hashlib.sha256(_spki(self.ca_key)).digest()
        signed = (struct.pack("!BBQH", 0, 0, millis, 1) + issuer_hash
                  + len(tbs).to_bytes(3, "big") + tbs + struct.pack("!H", 0))
        signature = _sign(self.ct_key, signed)
        sct = (bytes([0]) + hashlib.sha256(_spki(self.ct_key)).digest() + struct.pack("!QH", millis, 0)
               + bytes([4, 3]) + struct.pack("!H", len(signature)) + signature)
        return struct.pack("!HH", len(sct) + 2, len(sct)) + sct

    # Rekor -------------------------------------------------------------------------------

    @staticmethod
    def hashedrekord(artifact_sha256: str, signature: bytes, cert: x509.Certificate) -> bytes:
        pem = cert.public_bytes(serialization.Encoding.PEM)
        return json.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": artifact_sha256}},
            "signature": {"content": _b64(signature), "publicKey": {"content": _b64(pem)}}}},
            separators=(",", ":")).encode()

    def log(self, body: bytes, integrated_time: int) -> tuple[int, bytes, dict]:
        """Append `body`; returns (index, SET, inclusion proof with a signed checkpoint)."""
        index = len(self.leaves)
        self.leaves.append(_leaf(body))
        self.leaves.append(_leaf(b"a later entry"))
        root, size = merkle_root(self.leaves), len(self.leaves)
        origin = f"rekor.{self.name}.test - 4242"
        note = f"{origin}\n{size}\n{_b64(root)}\n"
        signature = self.log_id[:4] + _sign(self.log_key, note.encode())
        checkpoint = f"{note}\n\u2014 rekor.{self.name}.test {_b64(signature)}\n"
        proof = {"logIndex": str(index), "rootHash": _b64(root), "treeSize": str(size),
                 "hashes": [_b64(h) for h in inclusion_path(index, self.leaves)],
                 "checkpoint": {"envelope": checkpoint}}
        set_payload = rfc8785.dumps({"body": _b64(body), "integratedTime": integrated_time,
                                     "logID": self.log_id.hex(), "logIndex": index})
        return index, _sign(self.log_key, set_payload), proof

    # The signer --------------------------------------------------------------------------

    def sign(self, artifact: bytes, identity: str, *, issuer: str = GITHUB_ISSUER,
             repository: str | None = None, ref: str | None = None, logged_at: datetime | None = None,
             not_before: datetime | None = None, logged_body: bytes | None = None,
             ca: LocalSigstore | None = None) -> Signed:
        """Sign like cosign sign-blob: ephemeral key, certificate, signature, log entry.

        `logged_at` moves the log's time (e.g. after the certificate expired); `logged_body`
        logs another entry in place of this signature's (log evidence for another body); `ca`
        has another instance's Fulcio issue the certificate (a chain to another root).
        """
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (ca or self).issue(key, identity, issuer=issuer, repository=repository, ref=ref, not_before=not_before)
        signature = key.sign(artifact, ec.ECDSA(hashes.SHA256()))
        body = logged_body or self.hashedrekord(hashlib.sha256(artifact).hexdigest(), signature, cert)
        when = int((logged_at or datetime.now(UTC)).timestamp())
        index, set_signature, proof = self.log(body, when)
        return Signed(artifact, cert, signature, body, when, index, set_signature, proof, self.log_id)
