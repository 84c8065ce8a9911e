"""x509 key pairs (nova's os-keypairs type 'x509', microversion 2.2): a certificate made for the
user (its private key answered once, never stored) or one imported in PEM. The fingerprint is
nova's: the SHA-1 of the certificate's DER, as colon-separated hex."""
from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from backend.core.errors import BadRequest

MAX_CERT = 16 * 1024


def fingerprint(cert_pem: str) -> str:
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    return ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest())


def check_certificate(pem) -> str:
    if not isinstance(pem, str) or not pem.strip():
        raise BadRequest("'keypair.public_key' must be a PEM x509 certificate, not empty")
    pem = pem.strip()
    if len(pem) > MAX_CERT:
        raise BadRequest(f"'keypair.public_key' is longer than {MAX_CERT} characters")
    try:
        x509.load_pem_x509_certificate(pem.encode())
    except ValueError as e:
        raise BadRequest(f"'keypair.public_key' is not a PEM x509 certificate: {e}") from None
    return pem


def generate(common_name: str) -> tuple[str, str]:
    """(PEM certificate, PEM private key): an RSA key and a self-signed certificate for it,
    valid ten years, as nova's generate_x509_cert."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "nova")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), private
