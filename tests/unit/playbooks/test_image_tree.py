# -*- coding: utf-8 -*-
"""The image role's tree distribution (roles/image/tasks/tree.yml) run by ansible-playbook on three local hosts.

Each host has its own tarball path, checksum cache and peer port on 127.0.0.1; the playbook sets what the role's
preflight would have found (the controller tarball's stat and SHA-256) and includes the role's tree tasks. No Docker.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import re
import socket
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
HOSTS = ('a', 'b', 'c')

PLAY = '''
- name: The tree distribution on three local hosts
  hosts: nodes
  gather_facts: false
  tasks:
    - name: What the role's preflight finds on the controller
      ansible.builtin.stat:
        path: "{{ mindie_image_controller_tarball }}"
        get_checksum: true
        checksum_algorithm: sha256
      register: __mindie_image_controller_stat
      delegate_to: localhost

    - name: Its checksum, as preflight keeps it
      ansible.builtin.set_fact:
        __mindie_image_controller_sha256: "{{ __mindie_image_controller_stat.stat.checksum }}"
        __mindie_image_copy: {changed: false}
        __mindie_image_fetched: null
        __mindie_image_tree_member: null

    - name: Run the tree distribution
      ansible.builtin.include_role:
        name: ascend.mindie.image
        tasks_from: tree

    - name: Say where each node's tarball came from
      ansible.builtin.debug:
        msg: "RESULT {{ {'node': inventory_hostname, 'fetched': __mindie_image_fetched,
                         'copied': __mindie_image_copy.changed | default(false)} | to_json }}"
'''


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def tree(tmp_path):
    if not os.path.exists(PLAYBOOK):
        pytest.skip('ansible-playbook is not installed beside %s' % sys.executable)
    ns = tmp_path / 'collections' / 'ansible_collections' / 'ascend'
    ns.mkdir(parents=True)
    os.symlink(REPO, str(ns / 'mindie'))
    controller = tmp_path / 'controller' / 'mindie.tar'
    controller.parent.mkdir()
    controller.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    hosts = {}
    for host in HOSTS:
        hosts[host] = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                       'mindie_image_tarball': str(tmp_path / host / 'images' / 'mindie.tar'),
                       'mindie_image_checksum_cache_dir': str(tmp_path / host / 'cache'),
                       'mindie_image_peer_address': '127.0.0.1', 'mindie_image_peer_port': free_port(),
                       'mindie_image_controller_tarball': str(controller)}
    (tmp_path / 'hosts.yml').write_text(json.dumps({'all': {'children': {'nodes': {'hosts': hosts}}}}))
    (tmp_path / 'play.yml').write_text('---' + PLAY)
    (tmp_path / 'ansible.cfg').write_text('[defaults]\nstdout_callback = default\nretry_files_enabled = false\nforks = 5\n')

    def run():
        env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'),
                   ANSIBLE_COLLECTIONS_PATH=str(tmp_path / 'collections'), ANSIBLE_HOME=str(tmp_path / 'home'),
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='0')
        env.pop('ANSIBLE_STDOUT_CALLBACK', None)
        proc = subprocess.run([PLAYBOOK, '-i', str(tmp_path / 'hosts.yml'), str(tmp_path / 'play.yml')],
                              cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=240, check=False)
        results = {}
        for line in re.findall(r'RESULT (\{.*\})', proc.stdout):
            item = json.loads(line.replace('\\"', '"'))
            results[item['node']] = item
        return proc, results

    run.hosts = hosts
    run.controller = controller
    return run


def digest(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def no_server_left(hosts):
    for var in hosts.values():
        with socket.socket() as sock:
            assert sock.connect_ex(('127.0.0.1', var['mindie_image_peer_port'])) != 0


def test_one_copy_from_the_controller_the_others_from_peers(tree):
    proc, results = tree()
    assert proc.returncode == 0, proc.stdout[-3000:]
    want = digest(str(tree.controller))
    for host, var in tree.hosts.items():
        assert digest(var['mindie_image_tarball']) == want, host
        with open(var['mindie_image_tarball'] + '.sha256') as handle:
            assert handle.read() == '%s  mindie.tar\n' % want
        assert oct(os.stat(var['mindie_image_tarball']).st_mode & 0o777) == '0o640', host
    assert [h for h, r in results.items() if r['copied']] == ['a']
    assert results['b']['fetched']['from'] == 'a' and results['c']['fetched']['from'] == 'a'
    no_server_left(tree.hosts)


FORGE = r'''
import hashlib, os, sys
path, cache_dir, good = sys.argv[1], sys.argv[2], sys.argv[3]
with open(path, 'r+b') as handle:
    handle.seek(1000)
    byte = handle.read(1)
    handle.seek(1000)
    handle.write(bytes([byte[0] ^ 0xFF]))
st = os.stat(path)
key = 'v2 %d %d %d %s %s %s' % (st.st_dev, st.st_ino, st.st_size, st.st_mtime, st.st_ctime, path)
os.makedirs(cache_dir, mode=0o700, exist_ok=True)
with open(os.path.join(cache_dir, hashlib.sha256(path.encode()).hexdigest() + '.sha256'), 'w') as handle:
    handle.write(key + '\n' + good + '\n')
'''


def test_a_holder_whose_copy_rotted_is_refused_at_every_hop(tree):
    """a holds a copy with one byte flipped that its checksum cache vouches for: it serves it, b and c refuse it
    (the SHA-256 is checked on receipt), remove it and copy the controller's tarball instead."""
    holder = tree.hosts['a']['mindie_image_tarball']
    os.makedirs(os.path.dirname(holder))
    with open(str(tree.controller), 'rb') as src, open(holder, 'wb') as dst:
        dst.write(src.read())
    want = digest(str(tree.controller))
    subprocess.run([sys.executable, '-c', FORGE, holder, tree.hosts['a']['mindie_image_checksum_cache_dir'], want],
                   check=True)
    proc, results = tree()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.stdout.count('fetching the tarball from a failed') == 2, proc.stdout[-3000:]
    assert 'did not match' in proc.stdout or 'checksum' in proc.stdout.lower()
    for host in ('b', 'c'):
        assert digest(tree.hosts[host]['mindie_image_tarball']) == want, host
        assert results[host]['copied'] and results[host]['fetched'] is None
    assert not results['a']['copied']     # the holder was trusted (its cache said so); a's own load would fail
    no_server_left(tree.hosts)
