# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's plan (``mindie_plan``) and the one rule that turns listen addresses into URLs.

Pure functions, no I/O; the action plugin ascend.mindie.mindie_plan reads the host's variables and facts,
converts them (``-e`` values are strings) and calls :func:`build_plan`.

* ``INPUTS``: the shared inputs of every role (devices, ports, MASTER_PORT, model path, container name,
  config directory, listen addresses, how the container sees the NPUs, model name, the controller's TLS client
  files): variable name, plan key, type, default, bounds. The one place their
  defaults live; tests/unit/plugins/module_utils/test_plan.py checks the roles' argument specs agree.
* ``endpoint_url(scheme, address, port)``: 0.0.0.0 -> 127.0.0.1, :: -> ::1, IPv6 in brackets. Used by the
  plan, by ascend.mindie.mindie_service (its ``urls``) and by diagnose.py (its probes).
* ``server_endpoints(config)``: addresses, ports and URLs a MindIE config.json serves (MindIE's defaults filled
  in from mindie_schema.listen_values, which listener serves what from mindie_schema.http_listeners).
* ``logical_ids(devices, visible)``: physical NPU ids -> the ids a container sees (the plan's ``logical_devices``,
  the ascend.mindie.npu_logical_ids filter).
* ``build_plan(inputs, npu, group_names, ...)``: the plan, with ``instances`` (one today).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_schema
from ansible_collections.ascend.mindie.plugins.module_utils import profiles

# A wildcard listener is reached on the node's loopback.
WILDCARDS = {'0.0.0.0': '127.0.0.1', '::': '::1'}
PORT_FAMILIES = ('business', 'management', 'metrics')
NPU_COUNTS = (1, 2, 4, 8)
DAVINCI = re.compile(r'(?:.*/)?davinci(\d+)\Z')
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
    # How ascend.mindie.container passes the NPUs: /dev/davinciN for the plan's devices only, or (privileged, also
    # implied by the guide's flags) every NPU of the node. It decides the logical ids MindIE uses in the container.
    ('mindie_container_privileged', 'container_privileged', {'type': 'bool', 'default': False}, {}),
    ('mindie_container_guide_flags', 'container_guide_flags', {'type': 'bool', 'default': False}, {}),
    # What clients ask for and how they reach MindIE: the modelName ascend.mindie.service writes, and the controller's
    # TLS client files (ascend.mindie.service installs them on the node; ascend.mindie.verify's client check uses
    # them where they are). The server CA defaults to mindie_service_tls_ca (plan key tls.ca).
    ('mindie_service_model_name', 'model_name', {'type': 'str', 'default': 'qwen2_vl'}, {}),
    ('mindie_service_tls_server_name', 'tls_server_name', {'type': 'str', 'default': None}, {}),
    ('mindie_service_tls_server_ca', 'tls_server_ca', {'type': 'path', 'default': None}, {}),
    ('mindie_service_tls_ca', 'tls_ca', {'type': 'path', 'default': None}, {}),
    ('mindie_service_tls_client_cert', 'tls_client_cert', {'type': 'path', 'default': None}, {}),
    ('mindie_service_tls_client_key', 'tls_client_key', {'type': 'path', 'default': None}, {}),
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


def served_addresses(ports, business_address, management_address):
    """{family: the address its listener binds}, by MindIE's dispatch (mindie_schema.http_listeners).

    The business listener is on ipAddress; management shares it when its port is the business port and either the
    addresses are equal or the metrics port is that port too; otherwise management and metrics are on
    managementIpAddress. A layout MindIE refuses is named by where each server would listen.
    """
    keys = {'business': 'port', 'management': 'managementPort', 'metrics': 'metricsPort'}
    addresses = {'business': business_address, 'management': management_address, 'metrics': management_address}
    listeners = mindie_schema.http_listeners(business_address, management_address, ports['business'],
                                             ports['management'], ports['metrics']) or ()
    for address, _port_number, served in listeners:
        for family, key in keys.items():
            if key in served:
                addresses[family] = address
    return addresses


def _endpoints(scheme, ports, business_address, management_address, node_host=None, published=None):
    """Addresses and URLs of the three port families (which listener serves each: :func:`served_addresses`).

    ``published``: ``{'host': address, 'ports': {node port: port}}`` when clients elsewhere reach the node's ports
    through a translation (Docker's published ports, a NAT): a translated port's client URL is ``host:port``.
    """
    addresses = served_addresses(ports, business_address, management_address)
    urls = dict((f, endpoint_url(scheme, addresses[f], ports[f])) for f in PORT_FAMILIES)
    result = {'scheme': scheme, 'ports': dict(ports), 'addresses': addresses, 'urls': urls,
              'local_only': dict((f, is_loopback(addresses[f])) for f in PORT_FAMILIES)}
    if node_host is not None:
        result['client_urls'] = dict((f, client_url(scheme, addresses[f], ports[f], node_host)) for f in PORT_FAMILIES)
        published = published or {}
        translated = published.get('ports') or {}
        result['published'] = dict((f, bool(published.get('host')) and ports[f] in translated) for f in PORT_FAMILIES)
        for family in PORT_FAMILIES:
            if result['published'][family]:
                host = url_host(published['host'])
                result['client_urls'][family] = '%s://%s:%d' % (scheme, host, translated[ports[family]])
    return result


def _port(value, default):
    if isinstance(value, bool) or value is None:
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


def server_endpoints(config, node_host=None, published=None):
    """Scheme, ports, addresses and URLs the ServerConfig of a config.json serves (MindIE's defaults filled in).

    ``config`` is the whole parsed config.json or its ``ServerConfig``. As MindIE reads it
    (mindie_schema.listen_values): a missing managementPort is port, a missing managementIpAddress ipAddress;
    httpsEnabled defaults to true. Keys MindIE has no default for (port, metricsPort, ipAddress; it does not start
    without them) and values it refuses are named by the config.json MindIE ships (mindie_schema.SHIPPED_LISTEN),
    an unusable management port or address by the business one.
    """
    if isinstance(config, dict) and isinstance(config.get('ServerConfig'), dict):
        config = config['ServerConfig']
    server = config if isinstance(config, dict) else {}
    listen = mindie_schema.listen_values(server)
    shipped = mindie_schema.SHIPPED_LISTEN
    business_port = _port(listen['port'], shipped['port'])
    ports = {'business': business_port, 'management': _port(listen['managementPort'], business_port),
             'metrics': _port(listen['metricsPort'], shipped['metricsPort'])}
    business = listen['ipAddress']
    business = business if isinstance(business, str) and business else shipped['ipAddress']
    management = listen['managementIpAddress']
    management = management if isinstance(management, str) and management else business
    scheme = 'https' if _enabled(server.get('httpsEnabled', True)) else 'http'
    return _endpoints(scheme, ports, business, management, node_host, published)


def device_number(item):
    """The N of /dev/davinciN (a path, a name, a numeric string or an int), or None when it is not an NPU."""
    if isinstance(item, bool):
        return None
    if isinstance(item, int):
        return item if item >= 0 else None
    text = str(item).strip()
    if text.isdigit():
        return int(text)
    match = DAVINCI.match(text)
    return int(match.group(1)) if match else None


def logical_ids(devices, visible):
    """The logical id of each physical NPU id of ``devices``: its index among the sorted NPUs a container sees.

    MindIE (npuDeviceIds) and ASCEND_RT_VISIBLE_DEVICES address the NPUs of a container by that index: one given
    /dev/davinci4../dev/davinci7 calls them 0..3, one that sees every NPU keeps the physical ids. ``visible``: the
    container's /dev/davinciN (paths, names or numbers; anything else, such as /dev/davinci_manager, is ignored).
    Raises ValueError, naming the NPU and what the container sees, for an id that is not an NPU, listed twice or
    not visible. The one rule of the collection (the plan's logical_devices, the ascend.mindie.npu_logical_ids filter).
    """
    if not isinstance(devices, (list, tuple)) or not devices:
        raise ValueError('npu_logical_ids: the devices must be a non-empty list of NPU ids, got %r.' % (devices,))
    if not isinstance(visible, (list, tuple)):
        raise ValueError('npu_logical_ids: the visible devices must be a list of /dev/davinciN paths, got %r.'
                         % (visible,))
    seen = sorted(set(n for n in (device_number(v) for v in visible) if n is not None))
    ids = []
    for device in devices:
        number = device_number(device)
        if number is None:
            raise ValueError('npu_logical_ids: %r is not an NPU id (a number >= 0).' % (device,))
        ids.append(number)
    duplicates = sorted(set(n for n in ids if ids.count(n) > 1))
    if duplicates:
        raise ValueError('npu_logical_ids: NPU %s is listed more than once in the devices %s.'
                         % (', '.join(str(n) for n in duplicates), ids))
    missing = [n for n in ids if n not in seen]
    if missing:
        raise ValueError(
            'NPU %s of the plan %s not visible in the container, which sees %s. MindIE addresses the NPUs a container '
            'sees by their index (logical ids), so every NPU of the plan must be passed to it as /dev/davinciN with '
            'the same N (the ascend.mindie.container role does that), or the container must be privileged.'
            % (', '.join(str(n) for n in missing), 'is' if len(missing) == 1 else 'are',
               ', '.join('/dev/davinci%d' % n for n in seen) if seen else 'no /dev/davinciN at all'))
    return [seen.index(n) for n in ids]


def container_npus(inputs, devices):
    """The physical NPU ids the container sees: the plan's devices, or every NPU (ids kept) when privileged."""
    if inputs.get('container_privileged') or inputs.get('container_guide_flags'):
        return list(range(max(devices) + 1))
    return list(devices)


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


def build_plan(inputs, npu=None, group_names=(), server_config=None, node_host=None, host='this node', published=None):
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
        endpoints = server_endpoints(server_config, node_host, published)
    else:
        ports = {'business': inputs['business_port'], 'management': inputs['management_port'],
                 'metrics': inputs['metrics_port']}
        # What ascend.mindie.service writes (its vars/main.yml, __mindie_service_port_shared): a management or
        # metrics port equal to the business port puts managementIpAddress on the business address.
        management = inputs['management_address']
        if ports['business'] in (ports['management'], ports['metrics']):
            management = inputs['business_address']
        endpoints = _endpoints('https' if inputs['https'] else 'http', ports, inputs['business_address'],
                               management, node_host, published)
    logical = logical_ids(devices, container_npus(inputs, devices))
    instance = {
        'name': inputs['container'],
        'index': 0,
        'devices': devices,
        'logical_devices': logical,
        'world_size': len(devices),
        'master_port': inputs['master_port'],
    }
    instance.update(endpoints)
    return {
        'profile': detected or expected,
        'expected_profile': expected,
        'detected_profile': detected,
        'devices': devices,
        'logical_devices': logical,
        'world_size': len(devices),
        'ports': dict(endpoints['ports']),
        'master_port': inputs['master_port'],
        'container': inputs['container'],
        'model_path': inputs['model_path'],
        'config_dir': inputs['config_dir'],
        'config_container_dir': inputs['config_container_dir'],
        'model_name': inputs['model_name'],
        'tls': {'server_name': inputs['tls_server_name'], 'ca': inputs['tls_server_ca'] or inputs['tls_ca'],
                'client_cert': inputs['tls_client_cert'], 'client_key': inputs['tls_client_key']},
        'source': 'config' if server_config is not None else 'inventory',
        'instances': [instance],
    }
