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
import time

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


# ---------------------------------------------------------------------- MindieHTTP: the one client of every probe

def encrypted_key(pki, tmp_path, passphrase=b'sesame'):
    from cryptography.hazmat.primitives import serialization
    with open(pki['client.key.pem'], 'rb') as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    path = tmp_path / 'client.key.enc.pem'
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(passphrase)))
    return str(path)


def test_get_with_mutual_tls_and_an_encrypted_client_key(pki, tmp_path):
    server = TLSServer(pki)
    key = encrypted_key(pki, tmp_path)
    try:
        http = mindie_http.MindieHTTP(ca_path=pki['ca.pem'], client_cert=pki['client.pem'], client_key=key,
                                      client_key_passphrase='sesame')
        answer = http.get('https', '127.0.0.1', server.port, '/health', 5)
        assert answer == {'status': 200, 'body': 'ok', 'error': '', 'cert_refused': False}
        with pytest.raises(mindie_http.TLSSetupError, match='give the key passphrase'):
            mindie_http.MindieHTTP(ca_path=pki['ca.pem'], client_cert=pki['client.pem'], client_key=key).check()
        with pytest.raises(mindie_http.TLSSetupError, match='cannot be used'):
            mindie_http.MindieHTTP(ca_path=pki['ca.pem'], client_cert=pki['client.pem'], client_key=key,
                                   client_key_passphrase='wrong').check()
    finally:
        server.close()


def test_get_names_a_refused_certificate_and_validate_certs_false_skips_it(pki, tmp_path):
    server = TLSServer(pki)
    try:
        refused = mindie_http.MindieHTTP(ca_path=pki['ca.pem'], client_cert=pki['client.pem'],
                                         client_key=pki['client.key.pem'], server_name='other-node')
        answer = refused.get('https', '127.0.0.1', server.port, '/health', 5)
        assert answer['status'] is None and answer['cert_refused'] is True
        assert answer['error'].startswith('the server certificate was not accepted')
        # the system CAs do not know the sandbox CA; validate_certs=false still presents the client certificate
        lax = mindie_http.MindieHTTP(client_cert=pki['client.pem'], client_key=pki['client.key.pem'],
                                     validate_certs=False, server_name='other-node')
        assert lax.get('https', '127.0.0.1', server.port, '/health', 5)['status'] == 200
        no_client = mindie_http.MindieHTTP(ca_path=pki['ca.pem'])
        answer = no_client.get('https', '127.0.0.1', server.port, '/health', 5)
        assert answer['status'] is None and not answer['cert_refused'] and answer['error']
    finally:
        server.close()


def test_get_of_plain_http_needs_no_tls_files_and_bounds_the_body():
    server = HTTPServer(b'x' * 10000)
    try:
        http = mindie_http.MindieHTTP(ca_path='/nonexistent/ca.pem')      # never read for http
        answer = http.get('http', '127.0.0.1', server.port, '/metrics', 5, max_body=4096)
        assert answer['status'] == 200 and len(answer['body']) == 4096
        assert http.get('https', '127.0.0.1', server.port, '/metrics', 5)['error'] == \
            'ca_path /nonexistent/ca.pem does not exist'
        refused = mindie_http.MindieHTTP().get('http', '127.0.0.1', closed_port(), '/', 2)
        assert refused['status'] is None and 'refused' in refused['error'].lower()
    finally:
        server.close()


def time_wait_ports():
    """Local ports of the TCP sockets in TIME_WAIT (state 06) on this machine."""
    ports = []
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as handle:
                lines = handle.read().splitlines()[1:]
        except IOError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == '06':
                ports.append(int(fields[1].rsplit(':', 1)[1], 16))
    return ports


def test_reset_close_leaves_no_time_wait_on_the_server_port():
    """MindIE closes first (Connection: close): its port would sit in TIME_WAIT, which MindIE refuses at a start."""
    server = HTTPServer(b'ok')
    try:
        http = mindie_http.MindieHTTP()
        for dummy in range(3):
            assert http.get('http', '127.0.0.1', server.port, '/v2/health/ready', 5, reset=True)['status'] == 200
        server.wait_idle()
        assert server.port not in time_wait_ports()
        assert http.get('http', '127.0.0.1', server.port, '/v2/health/ready', 5)['status'] == 200
        server.wait_idle()
        deadline = time.time() + 5                     # the server's close completes a moment after it answered
        while server.port not in time_wait_ports() and time.time() < deadline:
            time.sleep(0.02)
        assert server.port in time_wait_ports()       # the plain close: the server's side waits (the test can fail)
    finally:
        server.close()


class HTTPServer(object):
    """Answers every request with 200 and ``body``, closing first (as MindIE does with Connection: close)."""

    def __init__(self, body):
        self.body = body
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.busy = threading.Event()
        self.idle = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            self.idle.clear()
            try:
                conn.recv(65536)
                # No Content-Length: the body ends with the server's close, so the server always closes first
                # (with a length, a quick client could close before it and take the TIME_WAIT itself).
                conn.sendall(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%s' % self.body)
            except OSError:
                pass
            finally:
                conn.close()
                self.idle.set()

    def wait_idle(self):
        self.idle.wait(5)
        import time
        time.sleep(0.3)     # the client's reset close waits up to 0.2 s for the server's FIN

    def close(self):
        self.sock.close()


def closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_tls_argument_spec_is_what_the_doc_fragment_documents():
    import yaml
    from ansible_collections.ascend.mindie.plugins.doc_fragments.tls import ModuleDocFragment
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    spec = mindie_http.tls_argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc['type'] == option['type'], name
        assert doc.get('default') == option.get('default'), name
        assert doc.get('aliases', []) == option.get('aliases', []), name
    assert spec['client_key_passphrase']['no_log'] is True
    spec['ca_path']['type'] = 'str'
    assert mindie_http.TLS_ARGUMENT_SPEC['ca_path']['type'] == 'path'      # a copy, not the shared dict
