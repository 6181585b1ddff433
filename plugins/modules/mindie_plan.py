# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_plan
short_description: Compute a node's MindIE plan - profile, instances, devices, ports, MASTER_PORT, endpoints
description:
  - Runs on the controller (an action plugin) and returns the plan as RV(plan). Every role of the collection that
    needs the plan runs it in its preflight when C(mindie_plan) is not defined yet and publishes RV(plan) with
    M(ansible.builtin.set_fact) as C(mindie_plan) (a play variable, never a cached fact, so a plan cannot outlive the run
    that computed it); ascend.mindie.prechecks runs it first and again after reading the NPUs.
  - "The plan's inputs are host variables, the same for every role, with their defaults here:
    C(mindie_npu_count) (V(8); one of 1, 2, 4, 8), C(mindie_npu_devices) (V([]); explicit physical NPU ids, the N of
    C(/dev/davinciN) and of C(npu-smi info); override the count), C(mindie_service_port), C(mindie_management_port),
    C(mindie_metrics_port) (V(1040), V(1041), V(1042)),
    C(mindie_master_port) (V(7896)) - every port in [1024, 65535] -, C(mindie_model_path)
    (V(/data/Qwen2-VL-7B-Instruct)), C(mindie_container_name) (V(mindie)), C(mindie_service_config_dir) and
    C(mindie_service_config_container_dir) (V(/etc/mindie)), C(mindie_service_ip_address) (the node's default
    IPv4 address, else V(127.0.0.1)), C(mindie_service_management_address) (V(127.0.0.1)),
    C(mindie_service_https) (V(false)), C(mindie_container_privileged) and C(mindie_container_guide_flags)
    (V(false); a privileged container sees every NPU), C(mindie_service_model_name) (V(qwen2_vl)), and the
    controller's TLS client files C(mindie_service_tls_server_name), C(mindie_service_tls_server_ca) (default
    C(mindie_service_tls_ca)), C(mindie_service_tls_client_cert) and C(mindie_service_tls_client_key) (V(null))."
  - "The instances of the node: C(mindie_instance_layout) (V(null), that is C(1x) the NPU count - V(1x8) by default;
    C(NxM) is N MindIE instances of M NPUs each, M one of 1, 2, 4, 8, taking C(mindie_npu_devices) (exactly N*M ids)
    or NPUs 0..N*M-1, instance i the i-th M of them), C(mindie_instance_layout_beyond_guide) (V(false); a layout
    that is not among the profile's C(guide_layouts) - 32G V(1x8), 64G V(1x8), V(2x4), V(1x4) - is refused unless
    it is V(true), and then planned with a warning), C(mindie_instances) (V([]); an explicit list of
    C({devices: [physical NPU ids], name: optional}) that overrides the layout), C(mindie_instance_port_stride)
    (V(10); instance i's business, management, metrics, C(interCommPort) and C(multiNodesInferPort) are instance
    0's plus i times it), C(mindie_inter_comm_port) (V(1121)), C(mindie_multi_nodes_infer_port) (V(1120)),
    C(mindie_hccl_base_port) (V(60000)) and C(mindie_hccl_port_count) (V(32); instance i's HCCL host ports are
    the i-th block of that many from the base), C(mindie_service_restart_limit) (V(5)) and
    C(mindie_service_restart_window) (V(600); the supervisor's crash-loop limit), C(mindie_instance_log_root)
    (V(/var/log/mindie); instance logs in C(<root>/<name>)). Instance i's MASTER_PORT is C(mindie_master_port) + i."
  - One instance keeps the names of every release (container C(mindie_container_name), config.json in
    C(mindie_service_config_dir)); several are C(<mindie_container_name>-<index>) with their config.json in
    C(<mindie_service_config_dir>/<name>).
  - Refused before anything is touched, each refusal naming what would fit - a layout that is not C(NxM) or whose M
    is not 1, 2, 4 or 8; more NPUs than the node has (the NPUs npu-smi shows, else the profile's chips); NPUs the
    node does not have, or given to two instances; a layout beyond the guide without
    C(mindie_instance_layout_beyond_guide); any two ports of any instances overlapping (every family, MASTER_PORT
    and the HCCL ranges), with the smallest C(mindie_instance_port_stride) that would separate them; a port outside
    [1024, 65535].
  - Values given with C(-e key=value) are strings; they are converted exactly as M(ascend.mindie.mindie_vars)
    converts them, and every value that cannot be used is named in one failure. Devices named twice, a device
    count other than 1, 2, 4 or 8, and a MASTER_PORT equal to a service port are refused too.
  - The hardware profile is the one the NPUs show (C(ansible_facts.npu.profile) of M(ascend.mindie.npu_facts)),
    else the one the host's inventory group names (C(atlas_800i_a2_32g), C(atlas_800i_a2_64g)).
  - Endpoints follow MindIE. A listener on V(0.0.0.0) or V(::) is reached on V(127.0.0.1) or V(::1), IPv6 addresses
    go in brackets. Which address serves each port is MindIE's dispatch (C(http_server.cpp) HttpServerInit) - the
    business port on C(ipAddress); management on it too when its port is the business port and the addresses are
    equal or all three ports are; otherwise management and metrics on C(managementIpAddress). From the inventory,
    C(managementIpAddress) is the business address when a port equals the business port, as ascend.mindie.service
    writes it.
  - Only when C(mindie_service_ip_address) is not set, the node's address is not among its facts and
    O(server_config) is not given, the node is asked for its default IPv4 address (the C(setup) module,
    network subset), which is then published as the fact C(ansible_default_ipv4).
author:
  - ascend.mindie maintainers (@ascend-mindie)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.facts
  - ascend.mindie.attributes.controller
attributes:
  facts:
    support: partial
    details: Only C(ansible_default_ipv4), when the node had to be asked for its address; the plan itself is returned, not set as a fact.
options:
  server_config:
    description:
      - The C(ServerConfig) of the config.json the node runs with (or the whole parsed config.json), that of
        instance 0; or a dict of instance name to its C(ServerConfig) or config.json, for every instance that has
        one (names the plan does not have are ignored). Each such
        instance's scheme, ports, addresses and URLs are then those it serves, with MindIE's defaults for what it
        leaves out (C(server_config.cpp) InitFromJson) - C(managementPort) is C(port), C(managementIpAddress) is
        C(ipAddress), C(httpsEnabled) true. For C(port), C(metricsPort) and C(ipAddress), which MindIE cannot start
        without, the values of the config.json MindIE ships stand in (V(1025), V(1027), V(127.0.0.1)).
        ascend.mindie.verify passes it.
    type: dict
  npu:
    description:
      - The NPU facts to plan with, in the shape of C(ansible_facts.npu). Default the host's C(ansible_facts.npu),
        when it has them. V({}) plans without detected NPUs (ascend.mindie.prechecks passes the facts of its own
        run, so a fact cached by an earlier run is never used).
    type: dict
  client_host:
    description:
      - With O(client_ports), the address clients elsewhere reach the node's translated ports at (Docker's published
        ports, a NAT). Each instance's C(client_urls) then use it for every port O(client_ports) names.
    type: str
  client_ports:
    description:
      - Node port to the port clients reach it on at O(client_host), for example node port 1040 to 32240. A port it
        does not name keeps its usual client URL; each instance's C(published) says which ports were translated.
    type: dict
notes:
  - The plan is not a fact; publish it with M(ansible.builtin.set_fact) as the roles do (see EXAMPLES).
seealso:
  - module: ascend.mindie.npu_facts
  - module: ascend.mindie.mindie_vars
'''

EXAMPLES = r'''
- name: Compute the node's plan
  ascend.mindie.mindie_plan:
  register: __plan
  when: mindie_plan is not defined

- name: Publish the node's plan as mindie_plan
  ansible.builtin.set_fact:
    mindie_plan: "{{ __plan.plan }}"
  when: mindie_plan is not defined

- name: Show where each instance serves
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.urls.business }} on NPUs {{ item.devices }}"
  loop: "{{ mindie_plan.instances }}"
  loop_control:
    label: "{{ item.name }}"

- name: Plan with the endpoints of the config.json the node runs with
  ascend.mindie.mindie_plan:
    server_config: "{{ (__config.content | b64decode | from_json).ServerConfig }}"
  register: __served
'''

RETURN = r'''
plan:
  description: The node's plan (publish it as C(mindie_plan)).
  returned: success
  type: dict
  contains:
    profile:
      description: The hardware profile used (detected, else expected), V(null) when neither is known.
      type: str
      sample: atlas-800i-a2-64g
    expected_profile:
      description: The profile the host's inventory group names, or V(null).
      type: str
    detected_profile:
      description: The profile the NPU facts show, or V(null).
      type: str
    devices:
      description:
        - Physical NPU ids the node serves with (the N of C(/dev/davinciN) and of C(npu-smi info)); the container
          role passes exactly these devices.
      type: list
      elements: int
      sample: [4, 5, 6, 7]
    logical_devices:
      description:
        - The same NPUs as the container sees them (their index among its C(/dev/davinciN); the physical ids in a
          privileged container), in the order of RV(plan.devices). C(npuDeviceIds) and C(ASCEND_RT_VISIBLE_DEVICES)
          take these; the rule is that of the ascend.mindie.npu_logical_ids filter.
      type: list
      elements: int
      sample: [0, 1, 2, 3]
    world_size:
      description: Number of devices.
      type: int
    ports:
      description: Business, management and metrics ports.
      type: dict
      sample: {business: 1040, management: 1041, metrics: 1042}
    master_port:
      description: MASTER_PORT of the daemon.
      type: int
      sample: 7896
    container:
      description: The MindIE container.
      type: str
    model_path:
      description: The weight directory on the node.
      type: str
    config_dir:
      description: The node's directory of config.json.
      type: str
    config_container_dir:
      description: Where the container sees RV(plan.config_dir).
      type: str
    model_name:
      description: The C(modelName) clients ask for (C(mindie_service_model_name)).
      type: str
      sample: qwen2_vl
    tls:
      description:
        - The controller's TLS client files for MindIE's mutual TLS (paths on the controller, V(null) when not set) -
          C(server_name) (the name MindIE's certificate must carry when it is not the address), C(ca) (the CA of
          MindIE's server certificates), C(client_cert) and C(client_key).
      type: dict
      sample: {server_name: null, ca: /srv/pki/ca.pem, client_cert: /srv/pki/client.pem, client_key: /srv/pki/client.key.pem}
    source:
      description: V(inventory) (instance 0's endpoints from the inputs) or V(config) (from O(server_config)).
      type: str
    layout:
      description: The instances as C(NxM) (V(2x4)); an explicit list of unequal instances as runs (V(1x4+2x2)).
      type: str
      sample: 1x8
    layout_source:
      description:
        - V(default) (one instance from C(mindie_npu_count) / C(mindie_npu_devices)), V(layout)
          (C(mindie_instance_layout)) or V(instances) (C(mindie_instances)).
      type: str
    warnings:
      description: What the plan allowed but the guide does not cover (also shown as warnings); V([]) when none.
      type: list
      elements: str
    restart_limit:
      description: C(mindie_service_restart_limit), the daemon starts the supervisor allows within RV(plan.restart_window).
      type: int
    restart_window:
      description: C(mindie_service_restart_window), in seconds.
      type: int
    log_root:
      description: C(mindie_instance_log_root), the node directory of the instances' log directories.
      type: str
    instances:
      description:
        - One entry per MindIE instance of the node, in index order, each with C(name), C(index), C(container) (the
          name), C(devices) (physical NPU ids), C(device_ids) (the ids its container sees; C(logical_devices) is
          the same), C(world_size), C(ports) (C(business), C(management), C(metrics), C(inter_comm),
          C(multi_nodes_infer)), C(master_port), C(hccl) (its HCCL host ports C(base_port), C(first), C(last)),
          C(config_dir) (on the node), C(config_container_dir) (in its container), C(log_dir) (on the node),
          C(source) (V(config) when O(server_config) gave its endpoints), C(scheme), C(addresses) (business,
          management, metrics), C(urls) (the base URLs from the node), C(client_urls) (from elsewhere - a wildcard
          listener at the node's C(ansible_host), or O(client_host) for a port O(client_ports) translates),
          C(published) (per port family, true when O(client_ports) translated it) and C(local_only) (per port
          family, true for a loopback listener).
      type: list
      elements: dict
      sample:
        - name: mindie
          index: 0
          container: mindie
          devices: [0, 1, 2, 3, 4, 5, 6, 7]
          device_ids: [0, 1, 2, 3, 4, 5, 6, 7]
          logical_devices: [0, 1, 2, 3, 4, 5, 6, 7]
          world_size: 8
          master_port: 7896
          hccl: {base_port: 60000, first: 60000, last: 60031}
          config_dir: /etc/mindie
          config_container_dir: /etc/mindie
          log_dir: /var/log/mindie/mindie
          source: inventory
          scheme: http
          ports: {business: 1040, management: 1041, metrics: 1042, inter_comm: 1121, multi_nodes_infer: 1120}
          addresses: {business: 192.0.2.10, management: 127.0.0.1, metrics: 127.0.0.1}
          urls: {business: "http://192.0.2.10:1040", management: "http://127.0.0.1:1041", metrics: "http://127.0.0.1:1042"}
          client_urls: {business: "http://192.0.2.10:1040", management: "http://127.0.0.1:1041", metrics: "http://127.0.0.1:1042"}
          local_only: {business: false, management: true, metrics: true}
ansible_facts:
  description: The node's default IPv4 address, only when the node had to be asked for it.
  returned: when the node was asked
  type: dict
  contains:
    ansible_default_ipv4:
      description: As the C(setup) module returns it.
      type: dict
errors:
  description: One message per variable that cannot be used.
  returned: failure
  type: list
  elements: str
  sample: ['mindie_npu_count is "four": expected one of 1, 2, 4, 8']
'''
