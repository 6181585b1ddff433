# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of ascend.mindie.mindie_service (no Docker needed)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ascend.mindie.plugins.modules import mindie_service as ms


def test_endpoints_default_management_ip_and_https():
    ep = ms.endpoints_from_config({'ServerConfig': {'ipAddress': '10.0.0.5', 'port': 1040}})
    assert ep['mgmt_ip'] == '10.0.0.5'
    # MindIE's default: a missing managementPort is port (server_config.cpp InitFromJson), not 1026
    assert ep['mgmt_port'] == 1040 and ep['ports'] == [1027, 1040]
    assert ep['urls'] == {'business': 'https://10.0.0.5:1040', 'management': 'https://10.0.0.5:1040',
                          'metrics': 'https://10.0.0.5:1027'}
    assert ep['log_path'] == 'logs/mindservice.log'


def test_endpoints_zero_ip_probed_on_loopback():
    ep = ms.endpoints_from_config({'ServerConfig': {'ipAddress': '0.0.0.0', 'httpsEnabled': False,
                                                    'managementPort': 2000},
                                   'LogConfig': {'logPath': '/var/log/mindie.log'}})
    assert ep['probe_ip'] == '127.0.0.1'
    # The plan's rule (plan.endpoint_url): the URL names the address a client on the node reaches, as verify's did.
    assert ep['urls']['management'] == 'http://127.0.0.1:2000'
    assert ms.endpoints_from_config({'ServerConfig': {'ipAddress': '::', 'httpsEnabled': False}})['urls']['business'] == 'http://[::1]:1025'
    assert ep['log_path'] == '/var/log/mindie.log'


PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0410 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000
   1: 0100007F:0411 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000
   2: 00000000:0412 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000
"""


def test_listening_ports_only_listen_state():
    assert ms.listening_ports(PROC_NET_TCP, [1040, 1041, 1042, 1043]) == [1040, 1042]


def test_hints():
    assert 'npuMemSize' in ms.match_hint('Warmup failed, because of multimodal model inference out of memory')
    assert 'port' in ms.match_hint('Socket bind failed on 127.0.0.1:1025 (Address already in use)')
    assert 'set_env.sh' in ms.match_hint('mindieservice_daemon: error while loading shared libraries: libatb.so')
    assert '/dev/davinci' in ms.match_hint('npuDeviceIds contains device 3, but the device is not visible')
    assert '0640' in ms.match_hint('Check path of config.json: permission 0644 is looser than 0640')
    assert ms.match_hint('all good') is None


def test_parse_probe_daemon_and_worker():
    text = ('pid=42\nstat=42 (python3) S 1 42 42 0 -1\ncmdline=python3 ./bin/mindieservice_daemon\nexit=\n')
    info = ms.parse_probe(text)
    assert info['pid'] == 42 and info['alive'] and info['is_daemon'] and info['exit_code'] is None
    worker = ms.parse_probe('pid=43\nstat=43 (python3) S 1\ncmdline=python3 /x/npu_worker.py '
                            'mindie_sim_npu_worker --owner mindieservice_daemon\nexit=\n')
    assert not worker['is_daemon']
    zombie = ms.parse_probe('pid=44\nstat=44 (mindieservice_d) Z 1\ncmdline=\nexit=1\n')
    assert not zombie['alive'] and zombie['exit_code'] == 1
    gone = ms.parse_probe('pid=45\nexit=143\n')
    assert not gone['alive'] and gone['exit_code'] == 143


def test_start_script_order():
    script = ms.start_script('/svc', [('MASTER_ADDR', 'localhost'), ('MASTER_PORT', '7896'), ('X', "a b'c")])
    positions = [script.index(p) for p in ms.SET_ENV_SCRIPTS]
    assert positions == sorted(positions)
    assert script.index('export MASTER_PORT=7896') > positions[-1]
    assert "export X='a b'\"'\"'c'" in script
    assert '( echo $BASHPID > logs/mindieservice_daemon.pid; echo "$BASHPID $(' in script
    # a subshell, not setsid: MindIE's own setpgrp() fails for a session leader
    assert '> logs/mindieservice_daemon.pgid; exec ./bin/mindieservice_daemon )\n' in script
    assert 'setsid' not in script
    assert script.rstrip().endswith('echo $? > logs/daemon.exit')
    assert 'exec >>/svc/logs/console.log 2>&1' in script


def test_order_log_lines_errors_first():
    service = ['[t] [1] [2] [mindie-server] [INFO] loading', '[t] [1] [2] [mindie-server] [ERROR] NPU 0 out of memory']
    console = ['[t] [1] [2] [mindie-server] [ERROR] NPU 0 out of memory', 'Failed to init endpoint!']
    tail, errors = ms.order_log_lines(service, console)
    assert tail[0].endswith('NPU 0 out of memory')
    assert errors == ['NPU 0 out of memory', 'Failed to init endpoint!']
    assert tail[-1] == '[t] [1] [2] [mindie-server] [INFO] loading'


def test_order_log_lines_folds_per_npu_lines_and_puts_summary_first():
    service = ['[t] [ERROR] NPU %d out of memory during warm-up: need 5 MB' % n for n in range(8)]
    service += ['[t] [ERROR] Warmup failed, because of multimodal model inference out of memory when x',
                '[t] [INFO] mindieservice_daemon exit with code 1.']
    tail, errors = ms.order_log_lines(service, ['Failed to init endpoint! Please check the service log'])
    assert errors[0].startswith('Warmup failed')
    assert errors[1] == 'NPU 7 out of memory during warm-up: need 5 MB (and 7 similar lines)'
    assert tail[0].endswith('Warmup failed, because of multimodal model inference out of memory when x')
