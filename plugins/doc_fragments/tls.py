# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """The TLS options of the modules that talk HTTP(S) to MindIE (module_utils.mindie_http.TLS_ARGUMENT_SPEC)."""

    DOCUMENTATION = r'''
options:
  ca_path:
    description:
      - PEM file of the CA (or CAs) that signed MindIE's server certificate, on the host that runs the module. Used
        for C(https) (C(httpsEnabled) true). The system's CAs are used when not set.
      - Whatever the options say, C(https) uses TLS 1.3 at least, the only version MindIE serves.
    type: path
  client_cert:
    description:
      - PEM client certificate presented to MindIE with C(httpsEnabled), which refuses clients without one (mutual
        TLS). May also hold the key.
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert), when that file does not hold it.
    type: path
  client_key_passphrase:
    description:
      - Passphrase of an encrypted O(client_key) (or of the key in O(client_cert)). Without it the key must not be
        encrypted.
    type: str
  validate_certs:
    description:
      - Verify MindIE's certificate chain (against O(ca_path)) and that it names O(server_name) (or the address
        connected to).
      - V(false) skips both, for a test setup only; the connection is still TLS 1.3 and still presents O(client_cert).
    type: bool
    default: true
  server_name:
    description:
      - Name the server certificate must carry (a subject alternative name), and the SNI sent, when it differs from
        the address connected to (for example a node reached by address whose certificate names it by DNS name).
      - Default the address (host) connected to.
    type: str
    aliases: [tls_server_name]
'''
