"""A throwaway certificate authority and server certificates for HTTPS tests on 127.0.0.1.

Made with `cryptography` (P-256 keys: quick to make), with the extensions a strict verifier wants
(basic constraints, key usage, subject/authority key identifiers, serverAuth), so a failure in a test
is the one the test means (untrusted CA, wrong name), never a malformed certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class ServerCert:
    cert_pem: Path
    key_pem: Path

    def context(self) -> ssl.SSLContext:
        """A server-side context presenting this certificate (and its issuer)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_pem, self.key_pem)
        return context


@dataclass(frozen=True)
class ThrowawayCA:
    ca_pem: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def issue(self, directory: Path, name: str, addresses: list[str]) -> ServerCert:
        """A server certificate whose only names are the IP SANs `addresses`; the chain file holds leaf + CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                             content_commitment=False, data_encipherment=False,
                                             key_agreement=True, key_cert_sign=False, crl_sign=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_pem = directory / f"{name}.pem"
        key_pem = directory / f"{name}.key"
        cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                             + self.cert.public_bytes(serialization.Encoding.PEM))
        key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        return ServerCert(cert_pem, key_pem)


def make_ca(directory: Path, name: str = "crio-test-ca") -> ThrowawayCA:
    """A self-signed CA valid for a day; `ca_pem` is what a client is told to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                         content_commitment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem = directory / f"{name}.pem"
    ca_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ThrowawayCA(ca_pem, key, cert)
