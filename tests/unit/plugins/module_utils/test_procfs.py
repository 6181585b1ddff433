# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared /proc/net/tcp reader."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ascend.mindie.plugins.module_utils.procfs import parse_proc_net_tcp

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0410 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0 100 0 0 10 0
   1: 0100007F:0411 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0 20 4 30 10 -1
   2: 00000000:1ED0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3333 1 0 100 0 0 10 0
   3: garbage
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0412 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0
   1: 00000000000000000000000000000000:0410 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0 100 0 0 10 0
"""


def test_listen_sockets_of_both_families_with_their_inodes():
    # 1040 and 7888 listen on IPv4; 1041 is an established connection, not a listener;
    # 1042 listens on IPv6; the first inode seen for 1040 wins.
    assert parse_proc_net_tcp(TCP + TCP6) == {1040: '1111', 7888: '3333', 1042: '4444'}


def test_empty_and_none():
    assert parse_proc_net_tcp('') == {}
    assert parse_proc_net_tcp(None) == {}


# ---------------------------------------------------------------------- every socket, and who holds it

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from ansible_collections.ascend.mindie.plugins.module_utils import procfs  # noqa: E402


def test_tcp_sockets_lists_every_state_with_its_fields():
    found = procfs.tcp_sockets(TCP + TCP6)
    assert [(s['port'], s['state'], s['inode']) for s in found] == [
        (1040, '0A', '1111'), (1041, '01', '2222'), (7888, '0A', '3333'), (1042, '0A', '4444'), (1040, '0A', '5555')]
    assert found[1]['local'] == '0100007F:0411' and found[1]['remote'] == '0100007F:C350'
    assert procfs.tcp_sockets(None) == []
    assert procfs.TCP_STATES['06'] == 'TIME_WAIT'


def fake_proc(tmp_path, processes):
    """A /proc tree: {pid: (comm, cmdline argv, [fd link targets]) or None for an unreadable fd directory}."""
    for pid, spec in processes.items():
        base = tmp_path / str(pid)
        base.mkdir()
        if spec is None:
            continue
        comm, argv, links = spec
        (base / 'comm').write_text(comm + '\n')
        (base / 'cmdline').write_bytes(b'\0'.join(a.encode() for a in argv) + b'\0')
        (base / 'fd').mkdir()
        for fd, target in enumerate(links):
            os.symlink(target, str(base / 'fd' / str(fd)))
    (tmp_path / 'self').mkdir()
    return str(tmp_path)


def test_socket_holders_lists_every_holder_by_pid(tmp_path):
    proc = fake_proc(tmp_path, {
        300: ('mindie_llm_back', ['python3', '/x/mindie_llm_backend', '--local_rank', '0'], ['socket:[77]', '/dev/null']),
        42: ('mindieservice_d', ['./bin/mindieservice_daemon'], ['pipe:[5]', 'socket:[77]', 'socket:[88]']),
        7: ('nginx', ['nginx: worker'], ['socket:[99]']),
        8: None,            # its fds cannot be read (another user's, without root): skipped
    })
    holders = procfs.socket_holders(['77', 88, '0', '12345'], proc)
    assert holders == {
        '77': [{'pid': 42, 'name': 'mindieservice_d', 'cmdline': './bin/mindieservice_daemon'},
               {'pid': 300, 'name': 'mindie_llm_back', 'cmdline': 'python3 /x/mindie_llm_backend --local_rank 0'}],
        '88': [{'pid': 42, 'name': 'mindieservice_d', 'cmdline': './bin/mindieservice_daemon'}],
    }
    assert procfs.socket_holders([], proc) == {}
    assert procfs.socket_holders(['0'], proc) == {}


def test_read_proc_net_tcp_joins_both_files_and_skips_a_missing_one(tmp_path):
    (tmp_path / 'net').mkdir()
    (tmp_path / 'net' / 'tcp').write_text(TCP)
    assert procfs.read_proc_net_tcp(str(tmp_path)) == TCP
    (tmp_path / 'net' / 'tcp6').write_text(TCP6)
    assert procfs.parse_proc_net_tcp(procfs.read_proc_net_tcp(str(tmp_path))) == {1040: '1111', 7888: '3333', 1042: '4444'}


def test_the_real_proc_finds_our_own_listening_socket():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)
    try:
        port = sock.getsockname()[1]
        inode = procfs.parse_proc_net_tcp(procfs.read_proc_net_tcp())[port]
        assert [h['pid'] for h in procfs.socket_holders([inode])[inode]] == [os.getpid()]
    finally:
        sock.close()


def run_port_check(mode, *ports):
    out = subprocess.run([sys.executable, '-c', procfs.port_check_script(), mode] + [str(p) for p in ports],
                         capture_output=True, text=True, timeout=60, env={'PATH': os.environ.get('PATH', '')})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_container_script_is_built_from_these_functions():
    script = procfs.port_check_script()
    for func in (procfs.tcp_sockets, procfs.socket_holders, procfs.read_proc_net_tcp):
        assert 'def %s(' % func.__name__ in script
    compile(script, 'port_check', 'exec')


def test_the_container_script_names_the_holder_of_a_busy_port():
    sock = socket.socket()
    sock.bind(('0.0.0.0', 0))
    sock.listen(1)
    free = socket.socket()
    free.bind(('127.0.0.1', 0))
    free_port = free.getsockname()[1]
    free.close()
    try:
        port = sock.getsockname()[1]
        assert set(run_port_check('bind', port, free_port)) == set([str(port)])
        assert run_port_check('bind', port)[str(port)]['sockets'] == []
        entry = run_port_check('who', port)[str(port)]
        assert entry['errno'] and entry['error']
        listening = [s for s in entry['sockets'] if s['state'] == '0A']
        assert len(listening) == 1 and listening[0]['local'].endswith(':%04X' % port)
        if os.access('/proc/%d/fd' % os.getpid(), os.R_OK):
            assert listening[0]['pids'] == [os.getpid()] and listening[0]['cmd']
    finally:
        sock.close()
    assert run_port_check('who', free_port) == {}
