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
