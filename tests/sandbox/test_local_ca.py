"""The local CA of `sandbox up --mtls`: made once, leaves reused while valid, keys private, purposes kept apart."""

from __future__ import annotations

import os
import stat

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sandbox.local_ca import LocalCA


def _cert(path) -> x509.Certificate:  # noqa: ANN001
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_ca_and_its_leaves_are_made_once_and_reused(tmp_path):
    ca = LocalCA(tmp_path).ensure()
    server, client = ca.server("consent"), ca.client("information-mediator")
    before = {p: p.read_bytes() for p in (ca.cert_file, server.cert_file, client.cert_file)}
    again = LocalCA(tmp_path).ensure()
    assert again.server("consent") == server and again.client("information-mediator") == client
    assert {p: p.read_bytes() for p in before} == before
    for key in (ca.ca.key_file, server.key_file, client.key_file):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_leaves_are_signed_by_the_ca_for_one_purpose_each(tmp_path):
    ca = LocalCA(tmp_path).ensure()
    root = _cert(ca.cert_file)
    for pair, purpose in (
        (ca.server("payments"), ExtendedKeyUsageOID.SERVER_AUTH),
        (ca.client("information-mediator"), ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        leaf = _cert(pair.cert_file)
        leaf.verify_directly_issued_by(root)
        assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [purpose]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_new_ca_issues_new_leaves(tmp_path):
    ca = LocalCA(tmp_path).ensure()
    old_leaf = ca.server("consent").cert_file.read_bytes()
    ca.cert_file.unlink()
    renewed = LocalCA(tmp_path).ensure()
    leaf = renewed.server("consent")
    assert leaf.cert_file.read_bytes() != old_leaf
    _cert(leaf.cert_file).verify_directly_issued_by(_cert(renewed.cert_file))
