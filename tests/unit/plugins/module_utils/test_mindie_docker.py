# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one Docker client: it raises MindieDockerError (with a kind), it never exits."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_docker
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import MindieDockerClient, MindieDockerError
from ansible_collections.ascend.mindie.tests.unit.plugins.module_utils.fake_docker_sdk import (
    FakeSDK,
    install,
    running,
)


def test_missing_sdk_is_an_error_with_missing_required_lib_text(monkeypatch):
    install(monkeypatch, None)
    with pytest.raises(MindieDockerError) as info:
        MindieDockerClient('mindie')
    err = info.value
    assert err.kind == mindie_docker.SDK_MISSING
    assert 'Failed to import the required Python library (docker)' in err.msg
    assert err.fail_kwargs() == {'msg': err.msg, 'exception': 'ModuleNotFoundError: No module named docker'}
    assert mindie_docker.sdk_version() is None


def test_engine_that_does_not_answer(monkeypatch, tmp_path):
    sock = tmp_path / 'docker.sock'
    sock.write_text('')
    install(monkeypatch, FakeSDK(down='Error while fetching server API version: Connection refused'))
    with pytest.raises(MindieDockerError) as info:
        MindieDockerClient('mindie', docker_host='unix://%s' % sock)
    assert info.value.kind == mindie_docker.ENGINE_DOWN
    assert info.value.msg == ('Cannot talk to the Docker engine at unix://%s: Error while fetching server API version: '
                              'Connection refused' % sock)
    with pytest.raises(MindieDockerError) as info:
        MindieDockerClient('mindie', docker_host='tcp://127.0.0.1:1')
    assert info.value.kind == mindie_docker.ENGINE_DOWN and 'tcp://127.0.0.1:1' in info.value.msg


def test_no_engine_socket_means_no_engine(monkeypatch, tmp_path):
    install(monkeypatch, FakeSDK(down="('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"))
    monkeypatch.setenv('DOCKER_HOST', 'unix://%s/none.sock' % tmp_path)
    with pytest.raises(MindieDockerError) as info:
        MindieDockerClient()
    assert info.value.kind == mindie_docker.NO_ENGINE
    assert '%s/none.sock does not exist (is Docker installed' % tmp_path in info.value.msg


def test_engine_calls(monkeypatch, tmp_path):
    sdk = install(monkeypatch, FakeSDK(containers=[running('mindie', cwd=str(tmp_path)), running('old', status='exited')],
                                       images={'mindie:1.0.0': {'Id': 'sha256:1'}}, engine_version='20.10.24+dfsg1'))
    client = MindieDockerClient(timeout=7)
    assert sdk.calls[0] == ('from_env', 7)
    assert client.engine_version() == '20.10.24+dfsg1'
    assert mindie_docker.sdk_version() == '7.1.0'
    assert [(r['Names'], r['Status']) for r in client.ps_all()] == [('mindie', 'running'), ('old', 'exited')]
    assert client.inspect_image('mindie:1.0.0') == {'Id': 'sha256:1'}
    assert client.inspect_image('other:1') is None


def test_container_missing_or_stopped(monkeypatch):
    install(monkeypatch, FakeSDK(containers=[running('old', status='exited')]))
    client = MindieDockerClient('mindie')
    assert client.inspect_container() is None
    with pytest.raises(MindieDockerError) as info:
        client.require_running()
    assert info.value.kind == mindie_docker.NOT_FOUND and info.value.msg == 'Container mindie does not exist.'
    with pytest.raises(MindieDockerError) as info:
        MindieDockerClient('old').require_running()
    assert info.value.kind == mindie_docker.API and 'is not running (status: exited)' in info.value.msg


def test_other_api_errors_are_not_not_found(monkeypatch):
    install(monkeypatch, FakeSDK(broken='500 Server Error: Internal Server Error'))
    with pytest.raises(MindieDockerError) as info:
        MindieDockerClient('mindie').inspect_container()
    assert info.value.kind == mindie_docker.API and 'Cannot inspect container mindie: 500' in info.value.msg


def test_exec_with_args_and_read_file(monkeypatch, tmp_path):
    (tmp_path / 'f.txt').write_bytes(b'caf\xc3\xa9 \xff\n')
    install(monkeypatch, FakeSDK(containers=[running('mindie', cwd=str(tmp_path))]))
    client = MindieDockerClient('mindie')
    state = client.require_running()
    assert state['running'] is True and state['id'] == 'c0ffee0123456789' and state['network_mode'] == 'host'
    # a value reaches the script as "$1", never as shell code
    rc, out, err = client.exec_shell('printf "%s|" "$1" "$2"; echo oops >&2; exit 3', args=['$(id)', 2])
    assert (rc, out, err) == (3, '$(id)|2|', 'oops\n')
    assert client.read_file(str(tmp_path / 'f.txt')) == u'caf\xe9 \ufffd\n'
    assert client.read_file(str(tmp_path / 'none.txt')) is None
    with pytest.raises(MindieDockerError, match='Cannot read'):
        client.read_file(str(tmp_path))
