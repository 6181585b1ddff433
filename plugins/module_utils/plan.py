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
* ``build_plan(inputs, npu, group_names, ...)``: the plan, with ``instances`` (one per MindIE instance of the
  node: layout NxM or mindie_instances, each with its devices, ports, MASTER_PORT, HCCL range, URLs and paths;
  the top level is instance 0's), ``layout``, ``layout_source`` and ``warnings``; PlanError names what is wrong
  and what would fit.
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
LAYOUT = re.compile(r'\s*([1-9][0-9]*)\s*[xX]\s*([1-9][0-9]*)\s*\Z')
NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]*\Z')
INSTANCE_KEYS = ('devices', 'name')
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
    # Instances (issue 13): the node runs N MindIE instances of M NPUs each (layout NxM, default 1x<the NPU count>),
    # or the explicit list mindie_instances ({devices, name}); every port family of instance i is instance 0's plus
    # i * mindie_instance_port_stride, its MASTER_PORT mindie_master_port + i, its HCCL range the i-th block of
    # mindie_hccl_port_count ports from mindie_hccl_base_port. See build_plan.
    ('mindie_instance_layout', 'layout', {'type': 'str', 'default': None}, {}),
    ('mindie_instance_layout_beyond_guide', 'layout_beyond_guide', {'type': 'bool', 'default': False}, {}),
    ('mindie_instances', 'instances', {'type': 'list', 'elements': 'dict', 'default': []}, {}),
    ('mindie_instance_port_stride', 'port_stride', {'type': 'int', 'default': 10}, {'min': 1, 'max': 8192}),
    ('mindie_inter_comm_port', 'inter_comm_port', {'type': 'int', 'default': 1121}, _PORT),
    ('mindie_multi_nodes_infer_port', 'multi_nodes_infer_port',
     {'type': 'int', 'default': mindie_schema.DEFAULT_MULTI_NODES_INFER_PORT}, _PORT),
    ('mindie_hccl_base_port', 'hccl_base_port', {'type': 'int', 'default': 60000}, _PORT),
    ('mindie_hccl_port_count', 'hccl_port_count', {'type': 'int', 'default': 32}, {'min': 1, 'max': 4096}),
    # The supervisor in each container (ascend.mindie.container): at most restart_limit daemon starts within
    # restart_window seconds, then the instance is crash-looping.
    ('mindie_service_restart_limit', 'restart_limit', {'type': 'int', 'default': 5}, {'min': 1}),
    ('mindie_service_restart_window', 'restart_window', {'type': 'int', 'default': 600}, {'min': 1}),
    # The node's directory of the instances' log directories (<log_root>/<instance name>).
    ('mindie_instance_log_root', 'log_root', {'type': 'path', 'default': '/var/log/mindie'}, {}),
)
INPUT_KEYS = dict((variable, key) for variable, key, _spec, _limit in INPUTS)
DEFAULTS = dict((key, spec['default']) for _variable, key, spec, _limit in INPUTS)


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


def planned_nodes(nodes, hostvars):
    """``nodes`` (inventory names) split by whether this run has their plan: ([(node, its hostvars, its plan)],
    [nodes without a plan with instances]) - what the balancer's and Prometheus's generators walk."""
    planned, missing = [], []
    for node in nodes:
        vars_ = hostvars.get(node) or {}
        node_plan = vars_.get('mindie_plan')
        if isinstance(node_plan, dict) and node_plan.get('instances'):
            planned.append((node, vars_, node_plan))
        else:
            missing.append(node)
    return planned, missing


def reached_at(node, host_vars, address, address_var):
    """Where another host (the balancer, Prometheus) reaches a listener of inventory host ``node`` that binds
    ``address``: the node's ``address_var`` when set, else ``address``; for a wildcard listener (0.0.0.0, ::) or an
    unknown one the node's ansible_host, else its inventory name."""
    if host_vars.get(address_var):
        return str(host_vars[address_var])
    address = str(address or '')
    if not address or is_wildcard(address):
        return str(host_vars.get('ansible_host') or node)
    return address


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
    """What makes the inputs unusable (converted values, as the action plugin passes them); [] when fine.

    The single-instance inputs of every release; the layout and the instances are checked by :func:`build_plan`
    (a layout takes mindie_npu_devices as its pool, so their number is checked there).
    """
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
    if devices and len(devices) not in NPU_COUNTS and not inputs.get('layout') and not inputs.get('instances'):
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


# ---------------------------------------------------------------------------------------------------- instances

def parse_layout(text):
    """(N, M) of ``'NxM'`` (N instances of M NPUs), or None when ``text`` is not of that shape."""
    match = LAYOUT.match(text) if isinstance(text, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def layout_text(sizes):
    """The layout of instances of ``sizes`` NPUs: ``'2x4'`` for [4, 4], ``'1x4+2x2'`` for [4, 2, 2]."""
    runs = []
    for size in sizes:
        if runs and runs[-1][1] == size:
            runs[-1][0] += 1
        else:
            runs.append([1, size])
    return '+'.join('%dx%d' % (count, size) for count, size in runs)


def guide_layouts(profile):
    """The layouts the guide covers on ``profile`` (field guide_layouts of the profile table); [] when unknown."""
    return list((profiles.get_profile(profile) or {}).get('guide_layouts') or [])


def fitting_layouts(npus, profile):
    """(the guide's layouts that fit on ``npus`` NPUs, the other layouts that fill them the most), for refusals.

    The others: for each M of 1/2/4/8 that fits, as many instances of M NPUs as the node holds.
    """
    guide = [text for text in guide_layouts(profile) if _layout_npus(text) <= npus]
    beyond = ['%dx%d' % (npus // size, size) for size in sorted(NPU_COUNTS, reverse=True) if size <= npus]
    return guide, [text for text in beyond if text not in guide]


def describe_fits(npus, profile):
    """'1x4 (the guide's); 2x2, 4x1 (beyond the guide, with mindie_instance_layout_beyond_guide: true)': 4 NPUs, 64G."""
    guide, beyond = fitting_layouts(npus, profile)
    if not guide_layouts(profile):
        return ', '.join(beyond) or 'none'
    parts = []
    if guide:
        parts.append('%s (the guide\'s)' % ', '.join(guide))
    if beyond:
        parts.append('%s (beyond the guide, with mindie_instance_layout_beyond_guide: true)' % ', '.join(beyond))
    return '; '.join(parts) or 'none'


def _layout_npus(text):
    return sum(count * size for count, size in (parse_layout(part) for part in text.split('+')))


def _chip_id(chip):
    """The N of /dev/davinciN of an npu-smi chip: the logical id (npu-smi info -m), else the NPU id."""
    logical = chip.get('logical_id')
    return chip.get('npu_id') if logical is None else logical


def node_npus(npu, profile):
    """(number of NPUs, their ids or None, where that comes from) of the node, or (None, None, None) when unknown.

    The NPU facts of ascend.mindie.npu_facts when there are any (the NPUs npu-smi shows), else the chips of the
    hardware profile (ids 0..chips-1).
    """
    if isinstance(npu, dict) and npu:
        chips = [chip for chip in npu.get('chips') or [] if isinstance(chip, dict)]
        ids = sorted(set(number for number in (_chip_id(chip) for chip in chips) if isinstance(number, int)))
        if ids:
            return len(ids), ids, 'npu-smi shows %d' % len(ids)
        if isinstance(npu.get('count'), int) and not isinstance(npu.get('count'), bool):
            return npu['count'], None, 'npu-smi shows %d' % npu['count']
    chips = (profiles.get_profile(profile) or {}).get('chips')
    if chips:
        return chips, list(range(chips)), '%s has %d' % (profile, chips)
    return None, None, None


def _explicit(inputs, found):
    """[(devices, name or None)] of mindie_instances, each entry checked (problems appended to ``found``)."""
    specs = []
    for index, entry in enumerate(inputs['instances']):
        where = 'mindie_instances[%d]' % index
        if not isinstance(entry, dict):
            found.append('%s is %r: each instance is a dict {devices: [NPU ids], name: optional}' % (where, entry))
            continue
        unknown = sorted(str(key) for key in entry if key not in INSTANCE_KEYS)
        if unknown:
            found.append('%s has unknown key%s %s (known: %s)' % (where, 's' if len(unknown) > 1 else '',
                                                                  ', '.join(unknown), ', '.join(INSTANCE_KEYS)))
        raw = entry.get('devices')
        devices = [device_number(item) if not isinstance(item, str) or item.strip().isdigit() else None
                   for item in raw] if isinstance(raw, (list, tuple)) else None
        if not devices or None in devices:
            found.append('%s.devices is %r: a list of 1, 2, 4 or 8 physical NPU ids (the N of /dev/davinciN)'
                         % (where, raw))
            continue
        if len(devices) not in NPU_COUNTS:
            found.append('%s has %d NPUs %s; MindIE runs on 1, 2, 4 or 8' % (where, len(devices), devices))
        name = entry.get('name')
        if name is not None and (not isinstance(name, str) or not NAME.match(name)):
            found.append('%s.name %r is no container name (letters, digits, _ . -, starting with a letter or digit)'
                         % (where, name))
            name = None
        specs.append((devices, name))
    return specs


def _split(inputs, found):
    """(layout, layout source, [(devices, name or None)]) of the inputs; problems are appended to ``found``."""
    if inputs['instances']:
        specs = _explicit(inputs, found)
        return layout_text([len(devices) for devices, _name in specs]), 'instances', specs
    if inputs['layout'] is None or not str(inputs['layout']).strip():
        devices = _devices(inputs)
        return '1x%d' % len(devices), 'default', [(devices, None)]
    shape = parse_layout(inputs['layout'])
    if shape is None:
        found.append('mindie_instance_layout %r is not NxM (N instances of M NPUs each, such as 1x8 or 2x4)'
                     % (inputs['layout'],))
        return str(inputs['layout']), 'layout', []
    count, size = shape
    layout = '%dx%d' % shape
    if size not in NPU_COUNTS:
        found.append('mindie_instance_layout %s gives each instance %d NPUs; MindIE runs on 1, 2, 4 or 8 (for %d NPUs: '
                     '%s)' % (layout, size, count * size, ', '.join(fitting_layouts(count * size, None)[1])))
        return layout, 'layout', []
    pool = list(inputs['npu_devices'] or [])
    if pool and len(pool) != count * size:
        found.append('mindie_instance_layout %s takes %d NPUs but mindie_npu_devices lists %d (%s): list %d ids, or '
                     'take a layout of %d NPUs (%s)' % (layout, count * size, len(pool), pool, count * size,
                                                        len(pool), ', '.join(fitting_layouts(len(pool), None)[1])))
        return layout, 'layout', []
    pool = pool or list(range(count * size))
    return layout, 'layout', [(pool[i * size:(i + 1) * size], None) for i in range(count)]


def _check_node(layout, source, specs, inputs, npu, profile, found, warnings):
    """The instances against the node (its NPUs) and the guide (the profile's guide_layouts)."""
    used = [device for devices, _name in specs for device in devices]
    twice = sorted(set(device for device in used if used.count(device) > 1))
    if twice:
        found.append('NPU %s is given to more than one instance (%s)' % (
            ', '.join(str(d) for d in twice), '; '.join('%s' % devices for devices, _name in specs)))
    if source == 'default':
        # One instance from mindie_npu_count / mindie_npu_devices, as every release planned it: the prechecks' own
        # checks (npu_devices, npu_count) report a node that cannot hold it.
        return
    npus, ids, seen = node_npus(npu, profile)
    if npus is not None and len(used) > npus:
        found.append('layout %s needs %d NPUs, but %s; what fits: %s'
                     % (layout, len(used), seen, describe_fits(npus, profile)))
        return
    missing = sorted(set(device for device in used if device not in ids)) if ids is not None else []
    if missing:
        found.append('NPU %s of layout %s %s not on the node (%s: %s)' % (
            ', '.join(str(d) for d in missing), layout, 'is' if len(missing) == 1 else 'are', seen,
            ', '.join(str(i) for i in ids)))
    guide = guide_layouts(profile)
    if guide and layout not in guide:
        if inputs['layout_beyond_guide']:
            warnings.append('layout %s is beyond the guide of %s (its layouts: %s); planned because '
                            'mindie_instance_layout_beyond_guide is true' % (layout, profile, ', '.join(guide)))
        else:
            fitting = fitting_layouts(npus, profile)[0] if npus else guide
            found.append('layout %s is beyond the guide of %s, whose layouts are %s: use %s, or set '
                         'mindie_instance_layout_beyond_guide: true to run %s anyway'
                         % (layout, profile, ', '.join(guide), ' or '.join(fitting) or 'another node', layout))


def _instance_ports(inputs, index):
    step = index * inputs['port_stride']
    return {'business': inputs['business_port'] + step, 'management': inputs['management_port'] + step,
            'metrics': inputs['metrics_port'] + step, 'inter_comm': inputs['inter_comm_port'] + step,
            'multi_nodes_infer': inputs['multi_nodes_infer_port'] + step}


def _hccl(inputs, index):
    first = inputs['hccl_base_port'] + index * inputs['hccl_port_count']
    return {'base_port': first, 'first': first, 'last': first + inputs['hccl_port_count'] - 1}


def _claims(inputs, names):
    """[(owner, what, first port, last port)]: every port the instances ``names`` take, HTTP ports a listener shares
    once (MindIE serves management and metrics on the business port when they are equal)."""
    claims = []
    for index, name in enumerate(names):
        ports = _instance_ports(inputs, index)
        http = {}
        for family in PORT_FAMILIES:
            http.setdefault(ports[family], []).append(family)
        for port, families in sorted(http.items()):
            claims.append((name, '/'.join(families) + ' port', port, port))
        for family in ('inter_comm', 'multi_nodes_infer'):
            claims.append((name, family + ' port', ports[family], ports[family]))
        claims.append((name, 'MASTER_PORT', inputs['master_port'] + index, inputs['master_port'] + index))
        hccl = _hccl(inputs, index)
        claims.append((name, 'HCCL ports', hccl['first'], hccl['last']))
    return claims


def _show(claim):
    owner, what, first, last = claim
    return '%s %s %s' % (owner, what, first if first == last else '%d-%d' % (first, last))


def port_problems(inputs, names):
    """Ports of the instances ``names`` outside [1024, 65535] or taken twice (any family, any instance)."""
    claims = _claims(inputs, names)
    found = ['%s %s outside [%d, %d]' % (_show(c), 'is' if c[2] == c[3] else 'are', _PORT['min'], _PORT['max'])
             for c in claims if c[2] < _PORT['min'] or c[3] > _PORT['max']]
    if [c for c in claims if c[1] == 'HCCL ports' and c[3] > _PORT['max']]:
        found.append('a mindie_hccl_base_port of at most %d holds %d range%s of %d'
                     % (_PORT['max'] + 1 - len(names) * inputs['hccl_port_count'], len(names),
                        's' if len(names) > 1 else '', inputs['hccl_port_count']))
    clashes = ['%s and %s' % (_show(a), _show(b)) for i, a in enumerate(claims) for b in claims[i + 1:]
               if a[2] <= b[3] and b[2] <= a[3]]
    if clashes:
        text = 'ports overlap: %s' % '; '.join(clashes[:6]) + ('; ...' if len(clashes) > 6 else '')
        if len(names) > 1:
            strides = [s for s in range(1, 1001) if not _overlapping(dict(inputs, port_stride=s), names)]
            text += ('; mindie_instance_port_stride %d would separate them' % strides[0] if strides else
                     '; no mindie_instance_port_stride up to 1000 separates them: move the base ports apart')
        found.append(text)
    return found


def _overlapping(inputs, names):
    claims = _claims(inputs, names)
    return any(a[2] <= b[3] and b[2] <= a[3] for i, a in enumerate(claims) for b in claims[i + 1:]) or any(
        c[2] < _PORT['min'] or c[3] > _PORT['max'] for c in claims)


def _served(server_config, names):
    """{instance name: its deployed config} from O(server_config): one config (instance 0's) or a dict by name."""
    if server_config is None:
        return {}
    if (isinstance(server_config, dict) and server_config and 'ServerConfig' not in server_config
            and all(isinstance(value, dict) for value in server_config.values())):
        return dict((name, config) for name, config in server_config.items() if name in names)
    return {names[0]: server_config}


def _served_extra_ports(config, planned):
    """interCommPort / multiNodesInferPort of a deployed config (ServerConfig, or the whole config.json), else planned."""
    whole = config if isinstance(config, dict) and isinstance(config.get('ServerConfig'), dict) else {}
    server = whole.get('ServerConfig') if whole else (config if isinstance(config, dict) else {})
    backend = whole.get('BackendConfig') if isinstance(whole.get('BackendConfig'), dict) else {}
    return {'inter_comm': _port(server.get('interCommPort'), planned['inter_comm']),
            'multi_nodes_infer': _port(backend.get('multiNodesInferPort'), planned['multi_nodes_infer'])}


def _inventory_endpoints(inputs, ports, node_host, published):
    """The endpoints ascend.mindie.service writes for ``ports`` (its vars/main.yml, __mindie_service_port_shared):
    a management or metrics port equal to the business port puts managementIpAddress on the business address."""
    management = inputs['management_address']
    if ports['business'] in (ports['management'], ports['metrics']):
        management = inputs['business_address']
    return _endpoints('https' if inputs['https'] else 'http', dict((f, ports[f]) for f in PORT_FAMILIES),
                      inputs['business_address'], management, node_host, published)


def _instance(inputs, index, devices, name, several, served, node_host, published):
    ports = _instance_ports(inputs, index)
    name = name or ('%s-%d' % (inputs['container'], index) if several else inputs['container'])
    if name in served:
        endpoints = server_endpoints(served[name], node_host, published)
        endpoints['ports'].update(_served_extra_ports(served[name], ports))
    else:
        endpoints = _inventory_endpoints(inputs, ports, node_host, published)
        endpoints['ports'].update((family, ports[family]) for family in ('inter_comm', 'multi_nodes_infer'))
    logical = logical_ids(devices, container_npus(inputs, devices))
    instance = {
        'name': name,
        'index': index,
        'container': name,
        'devices': list(devices),
        'device_ids': logical,
        'logical_devices': list(logical),
        'world_size': len(devices),
        'master_port': inputs['master_port'] + index,
        'hccl': _hccl(inputs, index),
        'config_dir': '%s/%s' % (inputs['config_dir'].rstrip('/'), name) if several else inputs['config_dir'],
        'config_container_dir': inputs['config_container_dir'],
        'log_dir': '%s/%s' % (inputs['log_root'].rstrip('/'), name),
        'source': 'config' if name in served else 'inventory',
    }
    instance.update(endpoints)
    return instance


def deployment_container(name, base, planned=()):
    """What a container of ours (labelled ascend.mindie.managed=true) named ``name`` is to the plan whose
    mindie_container_name is ``base`` and whose instance containers are ``planned``: ``'planned'`` (one of them),
    ``'previous'`` (a planned instance's container kept aside as ``<name>-previous`` by a replacement, which the
    container role's recovery handles, or as ``<name>-rollback`` by a rollout until its batch passed, which the
    rollout role handles), ``'stale'`` (named like this deployment's instances - ``<base>`` or ``<base>-<N>``, or
    such a name with ``-previous`` or ``-rollback`` - but not planned: the instance of another layout, which the
    container role removes and whose NPUs and ports the new instances take over), else None (another deployment of
    ours, never touched). The one rule of the collection (the container role's stale instances, the prechecks'
    holders of NPUs and ports)."""
    name = str(name or '').lstrip('/')
    planned = [str(p) for p in planned or ()]
    if name in planned:
        return 'planned'
    bare = name
    for suffix in ('-previous', '-rollback'):
        if name.endswith(suffix):
            bare = name[:-len(suffix)]
    if bare in planned:
        return 'previous'
    if re.match(r'%s(-[0-9]+)?\Z' % re.escape(str(base)), bare):
        return 'stale'
    return None


def instances_plan(inputs, npu=None, profile=None, server_config=None, node_host=None, host='this node',
                   published=None):
    """(layout, layout source, [instance], [warning]) of the converted inputs; raises PlanError naming each problem
    and what would fit."""
    found, warnings = [], []
    layout, source, specs = _split(inputs, found)
    if inputs['instances'] and inputs['layout']:
        warnings.append('mindie_instances (layout %s) overrides mindie_instance_layout %s' % (layout, inputs['layout']))
    if specs:
        _check_node(layout, source, specs, inputs, npu, profile, found, warnings)
    several = len(specs) > 1
    names = [name or ('%s-%d' % (inputs['container'], index) if several else inputs['container'])
             for index, (_devices_, name) in enumerate(specs)]
    twice = sorted(set(name for name in names if names.count(name) > 1))
    if twice:
        found.append('instance name %s is used twice (%s)' % (', '.join(twice), ', '.join(names)))
    elif names and not found:
        found.extend(port_problems(inputs, names))
    if found:
        raise PlanError('Cannot plan the MindIE instances of %s: %s.' % (host, '; '.join(found)))
    served = _served(server_config, names)
    instances = [_instance(inputs, index, devices, name, several, served, node_host, published)
                 for index, (devices, name) in enumerate(specs)]
    return layout, source, instances, warnings


def build_plan(inputs, npu=None, group_names=(), server_config=None, node_host=None, host='this node', published=None):
    """The node's plan from the converted inputs (plan keys of INPUTS), the NPU facts and the host's groups.

    The detected profile wins over the one the inventory group suggests (the prechecks report a disagreement).
    ``instances``: one per MindIE instance (:func:`instances_plan`); the top-level devices, ports, container and
    config_dir are those of instance 0, as in every release. With ``server_config`` (the deployed config.json of
    instance 0, or a dict {instance name: its config.json}) an instance's endpoints are those it serves; otherwise
    those the inputs give (ascend.mindie.service writes them). Raises PlanError for inputs that cannot make a plan.
    """
    inputs = dict(DEFAULTS, **inputs)
    found = problems(inputs)
    if found:
        raise PlanError(invalid_message(host, inputs, found))
    detected = detected_profile(npu)
    expected = profiles.profile_for_group(list(group_names or []))
    profile = detected or expected
    layout, source, instances, warnings = instances_plan(inputs, npu, profile, server_config, node_host, host, published)
    first = instances[0]
    return {
        'profile': profile,
        'expected_profile': expected,
        'detected_profile': detected,
        'devices': list(first['devices']),
        'logical_devices': list(first['logical_devices']),
        'world_size': first['world_size'],
        'ports': dict((family, first['ports'][family]) for family in PORT_FAMILIES),
        'master_port': first['master_port'],
        'container': first['container'],
        # mindie_container_name: the instances' containers are named after it (deployment_container)
        'container_base': inputs['container'],
        'model_path': inputs['model_path'],
        'config_dir': first['config_dir'],
        'config_container_dir': inputs['config_container_dir'],
        'model_name': inputs['model_name'],
        'tls': {'server_name': inputs['tls_server_name'], 'ca': inputs['tls_server_ca'] or inputs['tls_ca'],
                'client_cert': inputs['tls_client_cert'], 'client_key': inputs['tls_client_key']},
        'source': first['source'],
        'layout': layout,
        'layout_source': source,
        'warnings': warnings,
        'restart_limit': inputs['restart_limit'],
        'restart_window': inputs['restart_window'],
        'log_root': inputs['log_root'],
        'instances': instances,
    }
