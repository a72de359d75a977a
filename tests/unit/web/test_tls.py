from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from cryptography import x509

from web.tls import ensure_certificate, server_context


def test_a_self_signed_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    cert_path, key_path = ensure_certificate(tmp_path)
    first = cert_path.read_bytes()
    assert key_path.stat().st_mode & 0o777 == 0o600, "the private key is readable by others"
    cert = x509.load_pem_x509_certificate(first)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert ensure_certificate(tmp_path)[0].read_bytes() == first
    assert isinstance(server_context(tmp_path), ssl.SSLContext)
