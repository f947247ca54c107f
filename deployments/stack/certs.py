"""A private certificate authority for the stack's internal listeners (mutual TLS on every one of them).

SeaweedFS's master, volume and filer speak HTTP and gRPC without authentication; with every one of them
requiring a client certificate signed by this CA, only the stack's own S3 gateway gets in. The Dask
scheduler and workers demand one too: theirs to talk to each other, the client certificate for the flow
runs and shells that use the cluster.

The CA and its certificates are made together; the CA's key is never kept. A set with a file missing (a
stack from before Dask, or a write cut short) is made again whole, so every file on disk is always of one
set.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deployments.stack.secrets import private_dir, write_private

VALID_DAYS = 3650
BOTH_WAYS = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


class TlsFiles(NamedTuple):
    ca: Path
    cert: Path
    key: Path


class StackCertificates(NamedTuple):
    """One CA's certificates, each a pair of files next to the CA's certificate."""

    seaweedfs: TlsFiles  # SeaweedFS's listeners and its S3 gateway, which calls them
    dask: TlsFiles  # the Dask scheduler and workers (each listens and calls the others)
    dask_client: TlsFiles  # a client of the Dask cluster: a flow run, a shell; it cannot serve


# file stem: (common name, what the certificate may do)
_LEAVES = {
    "node": ("driftloop-stack", BOTH_WAYS),
    "dask": ("driftloop-dask", BOTH_WAYS),
    "dask-client": ("driftloop-dask-client", (ExtendedKeyUsageOID.CLIENT_AUTH,)),
}


def certificate_files(folder: Path) -> StackCertificates:
    """Where the certificates of `folder` are (made or not)."""
    ca = folder / "ca.crt"
    pairs = [TlsFiles(ca, folder / f"{stem}.crt", folder / f"{stem}.key") for stem in _LEAVES]
    return StackCertificates(*pairs)


def _files(certificates: StackCertificates) -> set[Path]:
    return {path for files in certificates for path in files}


def complete(certificates: StackCertificates) -> bool:
    """True when every file of the set is there."""
    return all(path.exists() for path in _files(certificates))


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
    )


def ensure_certificates(folder: Path) -> StackCertificates:
    """The CA and its certificates (for 127.0.0.1), made on the first call or when one file is missing."""
    folder = private_dir(folder)
    certificates = certificate_files(folder)
    if complete(certificates):
        return certificates
    for path in _files(certificates):  # a write cut short below leaves files missing, never a mixed set
        path.unlink(missing_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("driftloop-stack-ca")
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(certificates.seaweedfs.ca, ca.public_bytes(serialization.Encoding.PEM))
    loopback = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    for files, (common_name, usages) in zip(certificates, _LEAVES.values(), strict=True):
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            _builder(_name(common_name), ca_name, key.public_key())
            .add_extension(loopback, critical=False)
            .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write_private(files.key, _pem_key(key))
        write_private(files.cert, leaf.public_bytes(serialization.Encoding.PEM))
    return certificates
