# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP(S) connections to MindIE Service, as MindIE's own TLS wants them (MindIE-LLM ``http_ssl.cpp``).

MindIE serves mutual TLS only: TLS 1.3 minimum and a client certificate required
(``SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT``). A client of the collection therefore
verifies the server's certificate against a CA (chain and host name, optionally against another
name than the address it connects to), presents a client certificate, and refuses anything older
than TLS 1.3. Standard library only.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import os
import socket
import ssl
import struct

import http.client as http_client

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_supervisor import close_after_peer as _close_after_peer

# The TLS options of every module that talks to MindIE (documented once, in the doc fragment ascend.mindie.tls).
TLS_ARGUMENT_SPEC = dict(
    ca_path=dict(type='path'),
    client_cert=dict(type='path'),
    client_key=dict(type='path', no_log=False),
    client_key_passphrase=dict(type='str', no_log=True),
    validate_certs=dict(type='bool', default=True),
    server_name=dict(type='str', aliases=['tls_server_name']),
)


def tls_argument_spec():
    """A copy of TLS_ARGUMENT_SPEC, to merge into a module's argument_spec."""
    return copy.deepcopy(TLS_ARGUMENT_SPEC)


class TLSSetupError(ValueError):
    """The TLS options cannot give a working client context (missing or unreadable files, bad key)."""


def _check_file(option, path):
    if not path:
        return
    if not os.path.exists(path):
        raise TLSSetupError('%s %s does not exist' % (option, path))
    if not os.path.isfile(path):
        raise TLSSetupError('%s %s is not a regular file' % (option, path))
    if not os.access(path, os.R_OK):
        raise TLSSetupError('%s %s is not readable by this user' % (option, path))


def tls_client_context(ca_path=None, client_cert=None, client_key=None, client_key_password=None,
                       validate_certs=True, check_hostname=True):
    """An ``ssl.SSLContext`` for talking to MindIE.

    TLS 1.3 minimum always. With ``validate_certs`` (the default) the server's chain is verified
    (``CERT_REQUIRED``) against ``ca_path`` (a PEM file of CAs; the system's CAs when not given) and
    its host name against the certificate's subject alternative names (``check_hostname``). The
    client certificate, when given, is presented (``client_key`` when the key is in another file).
    Raises TLSSetupError with a message naming the option at fault.
    """
    if client_key and not client_cert:
        raise TLSSetupError('client_key needs client_cert')
    for option, path in (('ca_path', ca_path), ('client_cert', client_cert), ('client_key', client_key)):
        _check_file(option, path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    if validate_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = bool(check_hostname)
        try:
            if ca_path:
                context.load_verify_locations(cafile=ca_path)
            else:
                context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        except (ssl.SSLError, OSError) as exc:
            raise TLSSetupError('ca_path %s holds no usable PEM certificate: %s' % (ca_path, exc))
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        try:
            context.load_cert_chain(client_cert, client_key or None,
                                    password=client_key_password if client_key_password else (lambda: b''))
        except ssl.SSLError as exc:
            raise TLSSetupError('client_cert %s / client_key %s cannot be used (a certificate and its unencrypted '
                                'private key in PEM, or give the key passphrase; the key must match the '
                                'certificate): %s' % (client_cert, client_key or '(in client_cert)', exc))
        except (OSError, ValueError) as exc:
            raise TLSSetupError('client_cert %s / client_key %s cannot be read: %s'
                                % (client_cert, client_key or '(in client_cert)', exc))
    return context


class NamedHTTPSConnection(http_client.HTTPSConnection):
    """HTTPS to ``host`` that checks the certificate against ``server_name`` (and sends it as SNI)."""

    def __init__(self, host, port=None, server_name=None, **kwargs):
        http_client.HTTPSConnection.__init__(self, host, port, **kwargs)
        self.server_name = server_name or host

    def connect(self):
        http_client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


def connection(scheme, host, port, timeout, context=None, server_name=None):
    """An http.client connection to MindIE (not yet connected); ``context`` is required for https."""
    if scheme == 'https':
        if context is None:
            raise TLSSetupError('https needs a TLS context')
        return NamedHTTPSConnection(host, port, server_name=server_name, timeout=timeout, context=context)
    return http_client.HTTPConnection(host, port, timeout=timeout)


def describe_tls_error(exc):
    """A short reason for a TLS failure, with what usually causes it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ('the server certificate was not accepted (%s). Give the CA that signed MindIE\'s certificate, and '
                'a server name that is in its subject alternative names' % exc)
    text = str(exc)
    lowered = text.lower()
    if 'certificate required' in lowered or 'alert handshake failure' in lowered:
        return 'MindIE asked for a client certificate and refused the one given (or none): %s' % text
    if 'protocol version' in lowered or 'unsupported protocol' in lowered:
        return 'TLS version refused (MindIE serves TLS 1.3 only): %s' % text
    if 'wrong version number' in lowered or 'record layer failure' in lowered:
        return 'the port does not speak TLS (is httpsEnabled false?): %s' % text
    return text


def _answer(status=None, body=b'', error='', cert_refused=False):
    return {'status': status, 'body': to_text(body, errors='replace'), 'error': error, 'cert_refused': cert_refused}


class MindieHTTP(object):
    """HTTP(S) to MindIE with the collection's TLS options: the one client every probe uses.

    The TLS context is built on first use (or by ``check()``), so plain HTTP never needs the files.
    """

    def __init__(self, ca_path=None, client_cert=None, client_key=None, client_key_passphrase=None,
                 validate_certs=True, server_name=None):
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.client_key_passphrase = client_key_passphrase
        self.validate_certs = validate_certs
        self.server_name = server_name
        self._context = None

    @classmethod
    def from_params(cls, params):
        """The client for a module whose argument_spec holds TLS_ARGUMENT_SPEC."""
        return cls(**dict((name, params.get(name)) for name in TLS_ARGUMENT_SPEC))

    def tls_files_given(self):
        return bool(self.ca_path or self.client_cert or self.client_key)

    def context(self):
        """The ssl.SSLContext (tls_client_context of the options); raises TLSSetupError."""
        if self._context is None:
            self._context = tls_client_context(self.ca_path, self.client_cert, self.client_key,
                                               client_key_password=self.client_key_passphrase,
                                               validate_certs=self.validate_certs is not False)
        return self._context

    def check(self):
        """Build the TLS context now, so that bad options are refused before anything happens; raises TLSSetupError."""
        self.context()

    def connection(self, scheme, host, port, timeout):
        """An http.client connection (not yet connected); for https with the TLS context and server name."""
        context = self.context() if scheme == 'https' else None
        return connection(scheme, host, port, timeout, context=context, server_name=self.server_name)

    def get(self, scheme, host, port, path, timeout, max_body=None, reset=False):
        """GET ``path``; never raises. Returns {'status', 'body' (text), 'error', 'cert_refused'}.

        ``status`` is None when nothing answered; ``error`` then says why (a TLS failure explained by
        describe_tls_error), and ``cert_refused`` is true when the server's certificate was not accepted
        (waiting will not change that). ``max_body`` bounds what is read of the body.

        ``reset``: MindIE closes every connection first (Connection: close), which would leave the port in
        TIME_WAIT for 60 s after each probe, and MindIE refuses a port in TIME_WAIT at its next start. So the
        GET waits (briefly) until the server has closed its side, then closes with a reset (SO_LINGER 0, as
        HAProxy's health checks do): no TIME_WAIT on either side, and the server never sees a reset before it
        is done. The whole body is then read, since closing with unread data would reset the server's side early.
        """
        try:
            conn = self.connection(scheme, host, port, timeout)
        except TLSSetupError as exc:
            return _answer(error=str(exc))
        keep = None
        try:
            conn.connect()
            if reset:
                # A second descriptor of the same connection: http.client's close() then does not end the connection.
                keep = socket.fromfd(conn.sock.fileno(), conn.sock.family, conn.sock.type)
                keep.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            conn.request('GET', path, headers={'Connection': 'close'})
            response = conn.getresponse()
            body = response.read() if max_body is None or reset else response.read(max_body)
            return _answer(response.status, body[:max_body] if max_body else body)
        except ssl.SSLCertVerificationError as exc:
            return _answer(error=describe_tls_error(exc), cert_refused=True)
        except ssl.SSLError as exc:
            return _answer(error=describe_tls_error(exc))
        except (socket.error, http_client.HTTPException) as exc:
            return _answer(error=to_text(exc) or exc.__class__.__name__)
        finally:
            conn.close()
            if keep is not None:
                _close_after_peer(keep)
