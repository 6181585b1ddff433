#!/usr/bin/env python3
"""Throw-away TLS material for the sandbox and the tests: a CA, server and client certificates.

    make_test_certs.py DIR [--bits 3072] [--san 127.0.0.1 --san localhost ...] [--prefix NAME] [--passphrase-file F]

Writes into DIR (mode 0700): ca.pem, ca.key.pem, <prefix>server.pem, <prefix>server.key.pem, client.pem,
client.key.pem (keys 0400, certificates 0600, as MindIE recommends). Existing files are kept, so a rerun
changes nothing; use another DIR (or --prefix) for other material, e.g. a 2048-bit key that MindIE must
refuse. Private keys are generated on the machine that runs this and never belong in the repository.
Needs the `cryptography` package (ansible-core depends on it, so the controller has it).
"""
import argparse
import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key(bits):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _write(path, data, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def _pem_key(key, passphrase=None):
    enc = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, enc)


def _cert(subject_cn, key, issuer_cert, issuer_key, ca=False, sans=(), client=False, days=30):
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        entries = []
        for san in sans:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                entries.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())


def _load_ca(directory):
    with open(os.path.join(directory, "ca.pem"), "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(os.path.join(directory, "ca.key.pem"), "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    return cert, key


def make(directory, bits=3072, sans=("127.0.0.1", "localhost"), prefix="", passphrase=None, ca_bits=3072):
    """Create what is missing in ``directory``; return the paths."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    paths = {name: os.path.join(directory, name) for name in (
        "ca.pem", "ca.key.pem", prefix + "server.pem", prefix + "server.key.pem", "client.pem", "client.key.pem")}
    if not os.path.exists(paths["ca.pem"]):
        ca_key = _key(ca_bits)
        ca_cert = _cert("ascend.mindie sandbox test CA", ca_key, None, None, ca=True, days=60)
        _write(paths["ca.key.pem"], _pem_key(ca_key), 0o400)
        _write(paths["ca.pem"], ca_cert.public_bytes(serialization.Encoding.PEM), 0o600)
    ca_cert, ca_key = _load_ca(directory)
    if not os.path.exists(paths[prefix + "server.pem"]):
        key = _key(bits)
        cert = _cert(sans[0] if sans else "mindie", key, ca_cert, ca_key, sans=sans)
        _write(paths[prefix + "server.key.pem"], _pem_key(key, passphrase), 0o400)
        _write(paths[prefix + "server.pem"], cert.public_bytes(serialization.Encoding.PEM), 0o600)
    if not os.path.exists(paths["client.pem"]):
        key = _key(3072)
        cert = _cert("ascend.mindie probe", key, ca_cert, ca_key, client=True)
        _write(paths["client.key.pem"], _pem_key(key), 0o400)
        _write(paths["client.pem"], cert.public_bytes(serialization.Encoding.PEM), 0o600)
    return paths


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--bits", type=int, default=3072, help="RSA size of the server key (default 3072)")
    parser.add_argument("--san", action="append", default=[], help="subject alternative name (IP or DNS), repeatable")
    parser.add_argument("--prefix", default="", help="prefix of the server files (e.g. weak-)")
    parser.add_argument("--passphrase-file", help="encrypt the server key with the passphrase in this file")
    args = parser.parse_args(argv)
    passphrase = None
    if args.passphrase_file:
        with open(args.passphrase_file, "rb") as handle:
            passphrase = handle.read().rstrip(b"\r\n")
    paths = make(args.directory, args.bits, tuple(args.san) or ("127.0.0.1", "localhost"), args.prefix, passphrase)
    for name in sorted(paths):
        print(paths[name])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
