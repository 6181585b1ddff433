# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mindie_service's readiness probe with httpsEnabled: verifies the server, presents the client certificate."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import ssl
import sys

import pytest

from ansible_collections.ascend.mindie.plugins.modules import mindie_service

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'sandbox'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'unit', 'plugins', 'module_utils'))
make_test_certs = pytest.importorskip('make_test_certs')
from test_mindie_http import TLSServer  # noqa: E402  pylint: disable=wrong-import-position


class Failed(Exception):
    pass


class FakeModule(object):
    check_mode = False

    def __init__(self, **params):
        self.params = dict(container='mindie', config_path='/etc/mindie/config.json', service_dir='/svc',
                           ca_path=None, client_cert=None, client_key=None, client_key_passphrase=None,
                           validate_certs=True, server_name=None)
        self.params.update(params)

    def fail_json(self, **kwargs):
        raise Failed(kwargs['msg'])


class FakeClient(object):
    def __init__(self, config):
        self.text = json.dumps(config)

    def read_file(self, path):
        return self.text


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return make_test_certs.make(str(tmp_path_factory.mktemp('pki')), sans=('127.0.0.1', 'localhost'))


@pytest.fixture
def server(pki):
    srv = TLSServer(pki)
    yield srv
    srv.close()


def manager(port, **params):
    config = {'ServerConfig': {'ipAddress': '127.0.0.1', 'managementIpAddress': '127.0.0.1', 'port': port,
                               'managementPort': port, 'metricsPort': port, 'httpsEnabled': True}}
    mgr = mindie_service.MindieServiceManager(FakeModule(**params), FakeClient(config))
    mgr.load_config()
    return mgr


def test_probe_presents_the_client_certificate_and_verifies_the_server(server, pki):
    mgr = manager(server.port, ca_path=pki['ca.pem'], client_cert=pki['client.pem'], client_key=pki['client.key.pem'])
    assert mgr.ssl_context.verify_mode == ssl.CERT_REQUIRED and mgr.ssl_context.check_hostname
    assert mgr.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert mgr.check_ready_once() is True
    # the same server name check against another SAN
    assert manager(server.port, ca_path=pki['ca.pem'], client_cert=pki['client.pem'],
                   client_key=pki['client.key.pem'], server_name='localhost').check_ready_once() is True


def test_probe_without_client_certificate_is_not_ready(server, pki):
    assert manager(server.port, ca_path=pki['ca.pem']).check_ready_once() is False


def test_untrusted_server_fails_at_once(server, pki):
    mgr = manager(server.port, client_cert=pki['client.pem'], client_key=pki['client.key.pem'])
    with pytest.raises(Failed, match='refused the server: the server certificate was not accepted'):
        mgr.check_ready_once()
    mgr = manager(server.port, ca_path=pki['ca.pem'], client_cert=pki['client.pem'],
                  client_key=pki['client.key.pem'], server_name='not-in-the-san')
    with pytest.raises(Failed, match='Hostname mismatch|not accepted'):
        mgr.check_ready_once()


def test_bad_tls_options_fail_before_anything(pki):
    with pytest.raises(Failed, match='httpsEnabled is true in /etc/mindie/config.json, but the readiness probe '
                                     'cannot set up TLS: client_cert /nonexistent.pem does not exist'):
        manager(1050, client_cert='/nonexistent.pem')


def test_validate_certs_false_and_an_encrypted_client_key(server, pki, tmp_path):
    from test_mindie_http import encrypted_key  # pylint: disable=import-outside-toplevel
    # the system CAs do not know the sandbox CA: only validate_certs=false lets the probe through
    mgr = manager(server.port, client_cert=pki['client.pem'], client_key=pki['client.key.pem'], validate_certs=False)
    assert mgr.ssl_context.verify_mode == ssl.CERT_NONE and mgr.check_ready_once() is True
    key = encrypted_key(pki, tmp_path)
    mgr = manager(server.port, ca_path=pki['ca.pem'], client_cert=pki['client.pem'], client_key=key,
                  client_key_passphrase='sesame')
    assert mgr.check_ready_once() is True
    with pytest.raises(Failed, match='cannot set up TLS: client_cert .* give the key passphrase'):
        manager(server.port, ca_path=pki['ca.pem'], client_cert=pki['client.pem'], client_key=key)


def test_tls_options_are_the_shared_ones():
    import yaml
    doc = yaml.safe_load(mindie_service.DOCUMENTATION)
    assert 'ascend.mindie.tls' in doc['extends_documentation_fragment']
    assert not set(doc['options']) & {'ca_path', 'client_cert', 'client_key', 'server_name'}     # documented once
