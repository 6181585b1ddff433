# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's plan (``mindie_plan``) and the one rule that turns listen addresses into URLs.

Pure functions, no I/O; the action plugin ascend.mindie.mindie_plan reads the host's variables and facts,
converts them (``-e`` values are strings) and calls :func:`build_plan`.

* ``INPUTS``: the shared inputs of every role (devices, ports, MASTER_PORT, model path, container name,
  config directory, listen addresses): variable name, plan key, type, default, bounds. The one place their
  defaults live; tests/unit/plugins/module_utils/test_plan.py checks the roles' argument specs agree.
* ``endpoint_url(scheme, address, port)``: 0.0.0.0 -> 127.0.0.1, :: -> ::1, IPv6 in brackets. Used by the
  plan, by ascend.mindie.mindie_service (its ``urls``) and by diagnose.py (its probes).
* ``server_endpoints(config)``: addresses, ports and URLs a MindIE config.json serves (MindIE's defaults
  filled in; a management or metrics port equal to the business port is served by the business listener).
* ``build_plan(inputs, npu, group_names, ...)``: the plan, with ``instances`` (one today).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.ascend.mindie.plugins.module_utils import profiles

# MindIE's own defaults when config.json leaves a ServerConfig key out (MindIE 1.0 / 2.x).
MINDIE_DEFAULT_PORTS = {'business': 1025, 'management': 1026, 'metrics': 1027}
MINDIE_DEFAULT_ADDRESS = '127.0.0.1'
# A wildcard listener is reached on the node's loopback.
WILDCARDS = {'0.0.0.0': '127.0.0.1', '::': '::1'}
PORT_FAMILIES = ('business', 'management', 'metrics')
NPU_COUNTS = (1, 2, 4, 8)
_PORT = {'min': 1024, 'max': 65535}

# (variable, plan key, argument spec, bounds). The spec is that of a role's meta/argument_specs.yml, the bounds
# those of ascend.mindie.mindie_vars' `limits` (same conversion, same messages). A default of None means
# "worked out from the node" (see the action plugin).
INPUTS = (
    ('mindie_npu_count', 'npu_count', {'type': 'int', 'default': 8, 'choices': list(NPU_COUNTS)}, {}),
    ('mindie_npu_devices', 'npu_devices', {'type': 'list', 'elements': 'int', 'default': []}, {'min': 0}),
    ('mindie_service_port', 'business_port', {'type': 'int', 'default': 1040}, _PORT),
    ('mindie_management_port', 'management_port', {'type': 'int', 'default': 1041}, _PORT),
    ('mindie_metrics_port', 'metrics_port', {'type': 'int', 'default': 1042}, _PORT),
    ('mindie_master_port', 'master_port', {'type': 'int', 'default': 7896}, _PORT),
    ('mindie_model_path', 'model_path', {'type': 'path', 'default': '/data/Qwen2-VL-7B-Instruct'}, {}),
    ('mindie_container_name', 'container', {'type': 'str', 'default': 'mindie'}, {}),
    ('mindie_service_config_dir', 'config_dir', {'type': 'path', 'default': '/etc/mindie'}, {}),
    ('mindie_service_config_container_dir', 'config_container_dir', {'type': 'path', 'default': '/etc/mindie'}, {}),
    # Listen addresses and scheme of config.json (ascend.mindie.service writes them). The business address
    # defaults to the node's default IPv4 address (127.0.0.1 when it has none), the management address to
    # the deprecated mindie_service_management_ip_address, else 127.0.0.1.
    ('mindie_service_ip_address', 'business_address', {'type': 'str', 'default': None}, {}),
    ('mindie_service_management_address', 'management_address', {'type': 'str', 'default': None}, {}),
    ('mindie_service_https', 'https', {'type': 'bool', 'default': False}, {}),
)
INPUT_KEYS = dict((variable, key) for variable, key, _spec, _limit in INPUTS)


class PlanError(Exception):
    """Inputs that cannot make a plan (each problem named, the whole message ready for the operator)."""


def _bare(address):
    address = str(address if address is not None else '').strip()
    if address.startswith('[') and address.endswith(']'):
        address = address[1:-1]
    return address


def probe_address(address):
    """The address a client on the node uses for a listener on ``address`` (a wildcard is reached on loopback)."""
    address = _bare(address)
    return WILDCARDS.get(address, address)


def is_wildcard(address):
    return _bare(address) in WILDCARDS


def is_loopback(address):
    """True for a listener only the node itself reaches (127.0.0.0/8, ::1, localhost)."""
    address = _bare(address)
    return address.startswith('127.') or address in ('::1', 'localhost')


def url_host(address):
    """``address`` as the host part of a URL: IPv6 in brackets."""
    address = _bare(address)
    return '[%s]' % address if ':' in address else address


def endpoint_url(scheme, address, port):
    """The base URL of a listener: ``endpoint_url('http', '0.0.0.0', 1025)`` is ``http://127.0.0.1:1025``."""
    return '%s://%s:%d' % (scheme, url_host(probe_address(address)), int(port))


def client_url(scheme, address, port, node_host):
    """The base URL a client elsewhere uses: a wildcard listener is reached at the node's own name or address."""
    host = node_host if is_wildcard(address) and node_host else probe_address(address)
    return '%s://%s:%d' % (scheme, url_host(host), int(port))


def _endpoints(scheme, ports, business_address, management_address, node_host=None):
    """Addresses and URLs of the three port families; equal-to-business ports are served on the business address."""
    addresses = {'business': business_address}
    for family in ('management', 'metrics'):
        addresses[family] = business_address if ports[family] == ports['business'] else management_address
    urls = dict((f, endpoint_url(scheme, addresses[f], ports[f])) for f in PORT_FAMILIES)
    result = {'scheme': scheme, 'ports': dict(ports), 'addresses': addresses, 'urls': urls,
              'local_only': dict((f, is_loopback(addresses[f])) for f in PORT_FAMILIES)}
    if node_host is not None:
        result['client_urls'] = dict((f, client_url(scheme, addresses[f], ports[f], node_host)) for f in PORT_FAMILIES)
    return result


def _port(server, key, default):
    value = server.get(key, default)
    if isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _enabled(value):
    """A config.json boolean read as Ansible's ``bool`` filter reads it (true, 1, "yes", "on", "true", "1")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in ('yes', 'on', 'true', '1', 'y', 't')


def server_endpoints(config, node_host=None):
    """Scheme, ports, addresses and URLs the ServerConfig of a config.json serves (MindIE's defaults filled in).

    ``config`` is the whole parsed config.json or its ``ServerConfig``. httpsEnabled defaults to true, as in
    MindIE; an empty or missing ipAddress is 127.0.0.1, an empty managementIpAddress the business address.
    """
    if isinstance(config, dict) and isinstance(config.get('ServerConfig'), dict):
        config = config['ServerConfig']
    server = config if isinstance(config, dict) else {}
    ports = {'business': _port(server, 'port', MINDIE_DEFAULT_PORTS['business']),
             'management': _port(server, 'managementPort', MINDIE_DEFAULT_PORTS['management']),
             'metrics': _port(server, 'metricsPort', MINDIE_DEFAULT_PORTS['metrics'])}
    business = server.get('ipAddress')
    business = business if isinstance(business, str) and business else MINDIE_DEFAULT_ADDRESS
    management = server.get('managementIpAddress')
    management = management if isinstance(management, str) and management else business
    scheme = 'https' if _enabled(server.get('httpsEnabled', True)) else 'http'
    return _endpoints(scheme, ports, business, management, node_host)


def _devices(inputs):
    devices = list(inputs['npu_devices'] or [])
    return devices if devices else list(range(inputs['npu_count']))


def problems(inputs):
    """What makes the inputs unusable (converted values, as the action plugin passes them); [] when fine."""
    found = []
    devices = list(inputs['npu_devices'] or [])
    if inputs['npu_count'] not in NPU_COUNTS:
        found.append('mindie_npu_count %s is not one of 1/2/4/8' % inputs['npu_count'])
    if [d for d in devices if d < 0]:
        found.append('mindie_npu_devices %s has a negative id' % devices)
    for variable, key in (('mindie_service_port', 'business_port'), ('mindie_management_port', 'management_port'),
                          ('mindie_metrics_port', 'metrics_port'), ('mindie_master_port', 'master_port')):
        if not _PORT['min'] <= inputs[key] <= _PORT['max']:
            found.append('%s %d is outside [1024, 65535]' % (variable, inputs[key]))
    if len(set(devices)) != len(devices):
        found.append('mindie_npu_devices %s names a device twice' % devices)
    if devices and len(devices) not in NPU_COUNTS:
        found.append('mindie_npu_devices has %d devices; MindIE runs on 1, 2, 4 or 8' % len(devices))
    services = [inputs['business_port'], inputs['management_port'], inputs['metrics_port']]
    if inputs['master_port'] in services:
        found.append('mindie_master_port %d is one of the service ports' % inputs['master_port'])
    return found


def invalid_message(host, inputs, found):
    """The refusal, as the prechecks' preflight worded it (what each input must be, and what it is)."""
    return ('Invalid plan for %s: mindie_npu_devices must be distinct non-negative logical ids (1, 2, 4 or 8 of '
            'them), mindie_npu_count one of 1/2/4/8, every port in [1024, 65535] and mindie_master_port different '
            'from the service ports (%s). Got devices %s, count %s, ports %s/%s/%s, MASTER_PORT %s.'
            % (host, '; '.join(found), list(inputs['npu_devices'] or []), inputs['npu_count'], inputs['business_port'],
               inputs['management_port'], inputs['metrics_port'], inputs['master_port']))


def detected_profile(npu):
    """The hardware profile of the NPU facts (ansible_facts.npu of ascend.mindie.npu_facts), or None."""
    if not isinstance(npu, dict) or not npu:
        return None
    if 'profile' in npu:
        return npu['profile'] or None
    return profiles.classify(npu.get('chips') or [])


def build_plan(inputs, npu=None, group_names=(), server_config=None, node_host=None, host='this node'):
    """The node's plan from the converted inputs (plan keys of INPUTS), the NPU facts and the host's groups.

    The detected profile wins over the one the inventory group suggests (the prechecks report a disagreement).
    With ``server_config`` (the deployed config.json) the endpoints are those it serves; otherwise those the
    inputs give (ascend.mindie.service writes them). Raises PlanError for inputs that cannot make a plan.
    """
    found = problems(inputs)
    if found:
        raise PlanError(invalid_message(host, inputs, found))
    detected = detected_profile(npu)
    expected = profiles.profile_for_group(list(group_names or []))
    devices = _devices(inputs)
    if server_config is not None:
        endpoints = server_endpoints(server_config, node_host)
    else:
        ports = {'business': inputs['business_port'], 'management': inputs['management_port'],
                 'metrics': inputs['metrics_port']}
        endpoints = _endpoints('https' if inputs['https'] else 'http', ports, inputs['business_address'],
                               inputs['management_address'], node_host)
    instance = {
        'name': inputs['container'],
        'index': 0,
        'devices': devices,
        'world_size': len(devices),
        'master_port': inputs['master_port'],
    }
    instance.update(endpoints)
    return {
        'profile': detected or expected,
        'expected_profile': expected,
        'detected_profile': detected,
        'devices': devices,
        'world_size': len(devices),
        'ports': dict(endpoints['ports']),
        'master_port': inputs['master_port'],
        'container': inputs['container'],
        'model_path': inputs['model_path'],
        'config_dir': inputs['config_dir'],
        'config_container_dir': inputs['config_container_dir'],
        'source': 'config' if server_config is not None else 'inventory',
        'instances': [instance],
    }
