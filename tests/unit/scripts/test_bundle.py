# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/bundle.py's verification, the part that runs on the offline side before anything is installed:
every file against MANIFEST.sha256; a changed, missing or unlisted file, or a manifest line that is not one, is
refused naming it. (The whole bundle - build, install on a container with no network, a deploy from it - is
benchmarks/bundle_fleet.py, make bench-bundle.)"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                      'scripts', 'bundle.py')
_SPEC = importlib.util.spec_from_file_location('ascend_mindie_bundle', SCRIPT)
bundle = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bundle)


@pytest.fixture
def built(tmp_path):
    root = tmp_path / 'bundle'
    for name, data in (('controller/pip-26.3-py3-none-any.whl', b'pip' * 1000), ('image/mindie.tar', b'\0' * 4096),
                       ('wheelhouse/six-1.16.0-py2.py3-none-any.whl', b'six'), ('weights.sha256', b'x  y\n')):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    names = bundle.files_under(root)
    (root / bundle.MANIFEST).write_text(''.join('%s  %s\n' % (bundle.sha256(str(root / n)), n) for n in names))
    return root


def test_an_intact_bundle_passes(built):
    assert bundle.verify(built) == 4


def test_a_flipped_byte_is_refused_naming_the_file(built):
    path = built / 'image' / 'mindie.tar'
    data = bytearray(path.read_bytes())
    data[2048] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(bundle.BundleError, match=r'^image/mindie.tar is corrupted or changed: its SHA-256 is [0-9a-f]{64}'):
        bundle.verify(built)


def test_missing_and_unlisted_files_are_refused(built):
    (built / 'wheelhouse' / 'evil-1.0-py3-none-any.whl').write_bytes(b'x')
    with pytest.raises(bundle.BundleError, match='not in MANIFEST.sha256 .*: wheelhouse/evil-1.0-py3-none-any.whl'):
        bundle.verify(built)
    (built / 'wheelhouse' / 'evil-1.0-py3-none-any.whl').unlink()
    (built / 'weights.sha256').unlink()
    with pytest.raises(bundle.BundleError, match='missing from the bundle: weights.sha256'):
        bundle.verify(built)


@pytest.mark.parametrize('line', ['0' * 64 + '  ../etc/passwd', '0' * 64 + '  /etc/passwd', 'abc  image/mindie.tar',
                                  '0' * 64 + ' image/mindie.tar'])
def test_a_manifest_line_that_is_no_entry_is_refused(built, line):
    with open(str(built / bundle.MANIFEST), 'a') as handle:
        handle.write(line + '\n')
    with pytest.raises(bundle.BundleError, match="MANIFEST.sha256 line 5 is not '<sha256>  <relative path>'"):
        bundle.verify(built)


def test_no_manifest_no_bundle(built):
    (built / bundle.MANIFEST).unlink()
    with pytest.raises(bundle.BundleError, match='has no MANIFEST.sha256'):
        bundle.verify(built)


def test_install_refuses_before_it_makes_anything(built, tmp_path):
    (built / 'controller' / 'pip-26.3-py3-none-any.whl').write_bytes(b'changed')
    prefix = tmp_path / 'prefix'
    proc = subprocess.run([sys.executable, SCRIPT, 'install', '--bundle', str(built), '--prefix', str(prefix)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 1
    assert 'bundle: refused: controller/pip-26.3-py3-none-any.whl is corrupted or changed' in proc.stdout
    assert not prefix.exists()


def test_force_replaces_only_an_earlier_bundle(tmp_path):
    other = tmp_path / 'home'
    other.mkdir()
    (other / 'notes.txt').write_text('mine')
    proc = subprocess.run([sys.executable, SCRIPT, 'build', '--out', str(other), '--force', '--image', 'x'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 1
    assert 'is not an earlier bundle (no MANIFEST.sha256): not replacing it' in proc.stdout
    assert (other / 'notes.txt').read_text() == 'mine'
