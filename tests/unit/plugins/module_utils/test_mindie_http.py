# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP(S) helper the probes use: MindIE's mutual TLS, TLS 1.3, server verified by CA and name."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import ssl
import sys
import threading

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_http

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'sandbox'))
make_test_certs = pytest.importorskip('make_test_certs')


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    base = str(tmp_path_factory.mktemp('pki'))
    return make_test_certs.make(base, bits=3072, sans=('127.0.0.1', 'mindie-node1'))


def test_context_is_mutual_tls_13_with_verification(pki):
    ctx = mindie_http.tls_client_context(pki['ca.pem'], pki['client.pem'], pki['client.key.pem'])
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert [c['subject'] for c in ctx.get_ca_certs()] == [((('commonName', 'ascend.mindie sandbox test CA'),),)]


def test_context_without_validation_still_tls_13(pki):
    ctx = mindie_http.tls_client_context(validate_certs=False)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.verify_mode == ssl.CERT_NONE and ctx.check_hostname is False


@pytest.mark.parametrize('kwargs,message', [
    ({'ca_path': '/nonexistent/ca.pem'}, 'ca_path /nonexistent/ca.pem does not exist'),
    ({'client_cert': '/'}, 'client_cert / is not a regular file'),
    ({'client_key': 'KEY'}, 'client_key needs client_cert'),
])
def test_bad_files_are_named(kwargs, message):
    with pytest.raises(mindie_http.TLSSetupError, match=message):
        mindie_http.tls_client_context(**kwargs)


def test_cert_key_mismatch_and_non_pem_ca(pki, tmp_path):
    with pytest.raises(mindie_http.TLSSetupError, match='cannot be used'):
        mindie_http.tls_client_context(pki['ca.pem'], pki['client.pem'], pki['server.key.pem'])
    bogus = tmp_path / 'ca.pem'
    bogus.write_text('not a certificate\n')
    with pytest.raises(mindie_http.TLSSetupError, match='holds no usable PEM certificate'):
        mindie_http.tls_client_context(str(bogus))


class TLSServer(object):
    """A one-shot-per-connection TLS server that answers HTTP 200 (mutual TLS unless told otherwise)."""

    def __init__(self, pki, max_version=None, require_client=True):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki['server.pem'], pki['server.key.pem'])
        self.ctx.load_verify_locations(pki['ca.pem'])
        self.ctx.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_NONE
        if max_version:
            self.ctx.maximum_version = max_version
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                raw, dummy = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(65536)
                    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
            except (ssl.SSLError, OSError):
                pass

    def close(self):
        self.sock.close()


def get(port, ctx, server_name=None):
    conn = mindie_http.connection('https', '127.0.0.1', port, 5, context=ctx, server_name=server_name)
    try:
        conn.request('GET', '/health')
        return conn.getresponse().status
    finally:
        conn.close()


def test_against_a_mutual_tls_server(pki):
    server = TLSServer(pki)
    try:
        ctx = mindie_http.tls_client_context(pki['ca.pem'], pki['client.pem'], pki['client.key.pem'])
        assert get(server.port, ctx) == 200
        assert get(server.port, ctx, server_name='mindie-node1') == 200      # a SAN other than the address
        with pytest.raises(ssl.SSLCertVerificationError) as info:            # a name not in the SAN
            get(server.port, ctx, server_name='other-node')
        assert 'the server certificate was not accepted' in mindie_http.describe_tls_error(info.value)
        with pytest.raises(ssl.SSLCertVerificationError):                    # the system CAs do not know ours
            get(server.port, mindie_http.tls_client_context(None, pki['client.pem'], pki['client.key.pem']))
    finally:
        server.close()


def test_tls_12_server_is_refused(pki):
    server = TLSServer(pki, max_version=ssl.TLSVersion.TLSv1_2, require_client=False)
    try:
        ctx = mindie_http.tls_client_context(pki['ca.pem'], pki['client.pem'], pki['client.key.pem'])
        with pytest.raises(ssl.SSLError) as info:
            get(server.port, ctx)
        assert 'TLS' in mindie_http.describe_tls_error(info.value)
    finally:
        server.close()


def test_plain_http_needs_no_context():
    conn = mindie_http.connection('http', '127.0.0.1', 1, 1)
    assert conn.__class__.__name__ == 'HTTPConnection'
    with pytest.raises(mindie_http.TLSSetupError):
        mindie_http.connection('https', '127.0.0.1', 1, 1)
