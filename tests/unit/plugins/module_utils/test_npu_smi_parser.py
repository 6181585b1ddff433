# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/npu_smi.py on every npu-smi capture and variant."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils.npu_smi import (
    NpuSmiParseError,
    chips_healthy,
    merge_logical_ids,
    parse_npu_smi_info,
    parse_npu_smi_list,
    parse_npu_smi_mapping,
)
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import chip_is_910b
from ansible_collections.ascend.mindie.plugins.module_utils.profiles import classify as classify_profile

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'npu-smi')
VARIANTS = os.path.join(FIXTURES, 'variants')
IDLE_32G = 'atlas800ia2_910b4x8_32g_idle_25.0.rc1.1.txt'
BUSY_64G = '910b3x8_64g_busy_25.3.rc1.txt'
BUS_IDS = ['0000:C1:00.0', '0000:C2:00.0', '0000:81:00.0', '0000:82:00.0',
           '0000:01:00.0', '0000:02:00.0', '0000:41:00.0', '0000:42:00.0']


def read(name, directory=FIXTURES):
    with open(os.path.join(directory, name)) as handle:
        return handle.read()


def variant(name):
    return read(name, VARIANTS)


class TestCaptures(object):
    def test_32g_idle_capture(self):
        result = parse_npu_smi_info(read(IDLE_32G))
        assert result['npu_smi_version'] == '25.0.rc1.1'
        chips = result['chips']
        assert [c['npu_id'] for c in chips] == list(range(8))
        assert [c['bus_id'] for c in chips] == BUS_IDS
        assert [c['power_w'] for c in chips] == [87.2, 82.7, 82.7, 89.1, 84.5, 84.8, 87.1, 81.6]
        assert [c['temp_c'] for c in chips] == [33, 33, 33, 34, 39, 37, 38, 37]
        assert [c['hbm_used_mb'] for c in chips] == [2654] * 7 + [2653]
        for chip in chips:
            assert chip['name'] == '910B4'
            assert chip['health'] == 'OK'
            assert chip['chip_id'] == 0
            assert chip['hbm_total_mb'] == 32768
            assert (chip['memory_used_mb'], chip['memory_total_mb']) == (0, 0)
            assert (chip['hugepages_used'], chip['hugepages_total']) == (0, 0)
            assert chip['aicore_percent'] == 0
            assert isinstance(chip['power_w'], float) and isinstance(chip['temp_c'], int)
        assert result['processes'] == []
        assert classify_profile(chips) == 'atlas-800i-a2-32g'
        assert chips_healthy(chips)

    def test_64g_busy_capture_five_digit_usage_and_empty_names(self):
        result = parse_npu_smi_info(read(BUSY_64G))
        assert result['npu_smi_version'] == '25.3.rc1'
        chips = result['chips']
        assert [c['hbm_used_mb'] for c in chips] == [58626, 58626, 58627, 58626, 58626, 58626, 58626, 58626]
        assert all(c['hbm_total_mb'] == 65536 and c['name'] == '910B3' for c in chips)
        assert [c['power_w'] for c in chips] == [100.9, 96.2, 90.5, 97.7, 93.6, 97.0, 100.0, 93.5]
        procs = result['processes']
        assert [p['pid'] for p in procs] == list(range(71867, 71875))
        assert [p['npu_id'] for p in procs] == list(range(8))
        assert all(p['name'] == '' and p['memory_mb'] == 55278 and p['chip_id'] == 0 for p in procs)
        assert all(p['container_pid'] is None for p in procs)
        assert classify_profile(chips) == 'atlas-800i-a2-64g'

    def test_every_capture_and_table_variant_parses(self):
        names = [n for n in os.listdir(FIXTURES) if n.endswith('.txt') and 'info-' not in n and 'failure' not in n]
        assert len(names) == 2
        for name in names:
            assert len(parse_npu_smi_info(read(name))['chips']) == 8


class TestVariants(object):
    def test_26x_wide_rows_with_container_pid_column(self):
        result = parse_npu_smi_info(variant('npu-smi_26.0.rc1_wide_container_pid.txt'))
        assert result['npu_smi_version'] == '26.0.rc1'
        chips = result['chips']
        assert len(chips) == 8
        assert chips[0]['hbm_used_mb'] == 61234 and chips[0]['hbm_total_mb'] == 65536
        assert chips[2]['hbm_used_mb'] == 3348
        assert chips[0]['aicore_percent'] == 3
        assert [c['bus_id'] for c in chips] == BUS_IDS
        assert result['processes'] == [
            {'npu_id': 0, 'chip_id': 0, 'pid': 123456, 'container_pid': 187, 'name': 'mindie_llm_back',
             'memory_mb': 57886},
            {'npu_id': 1, 'chip_id': 0, 'pid': 123457, 'container_pid': 188, 'name': '', 'memory_mb': 57886},
        ]
        assert classify_profile(chips) == 'atlas-800i-a2-64g'

    def test_subset_of_npu_ids(self):
        result = parse_npu_smi_info(variant('npu-smi_25.0.rc1.1_subset_npu4-7.txt'))
        assert [c['npu_id'] for c in result['chips']] == [4, 5, 6, 7]
        assert [c['bus_id'] for c in result['chips']] == BUS_IDS[4:]
        assert result['processes'] == []
        assert classify_profile(result['chips']) is None
        assert chips_healthy(result['chips'])

    def test_missing_process_table(self):
        result = parse_npu_smi_info(variant('npu-smi_25.0.rc1.1_no_process_table.txt'))
        assert len(result['chips']) == 8
        assert result['processes'] == []

    def test_unhealthy_values(self):
        chips = parse_npu_smi_info(variant('npu-smi_25.0.rc1.1_unhealthy.txt'))['chips']
        assert [c['health'] for c in chips] == ['OK', 'Warning', 'OK', 'Alarm', 'OK', 'OK', 'Critical', 'OK']
        assert not chips_healthy(chips)
        # The profile is about hardware, not health.
        assert classify_profile(chips) == 'atlas-800i-a2-32g'

    def test_na_and_dash_values(self):
        chips = parse_npu_smi_info(variant('npu-smi_25.0.rc1.1_na_values.txt'))['chips']
        assert chips[2]['power_w'] is None
        assert chips[2]['temp_c'] == 33
        assert chips[5]['temp_c'] is None
        assert chips[5]['power_w'] == 84.8
        assert (chips[0]['hugepages_used'], chips[0]['hugepages_total']) == (None, None)
        assert chips[0]['hbm_used_mb'] == 2654

    def test_named_and_multiple_processes(self):
        procs = parse_npu_smi_info(variant('npu-smi_25.3.rc1_named_processes.txt'))['processes']
        assert len(procs) == 9
        assert procs[0] == {'npu_id': 0, 'chip_id': 0, 'pid': 71867, 'container_pid': None,
                            'name': 'mindieservice_d', 'memory_mb': 50000}
        assert procs[1]['pid'] == 71900 and procs[1]['name'] == '' and procs[1]['memory_mb'] == 5278
        assert procs[2]['name'] == 'python3' and procs[2]['npu_id'] == 1

    def test_two_chips_per_npu_without_hbm_column(self):
        result = parse_npu_smi_info(variant('npu-smi_310p_two_chips_no_hbm.txt'))
        chips = result['chips']
        assert [(c['npu_id'], c['chip_id']) for c in chips] == [(1, 0), (1, 1)]
        assert chips[1]['memory_used_mb'] == 1515 and chips[1]['memory_total_mb'] == 43693
        assert chips[0]['hbm_total_mb'] is None and chips[0]['power_w'] is None
        assert result['npu_smi_version'] == '24.1.rc2'
        assert classify_profile(chips) is None

    @pytest.mark.parametrize('name', ['npu-smi_garbage_not_a_table.txt', 'npu-smi_empty.txt'])
    def test_not_a_table_raises_with_first_lines(self, name):
        text = variant(name)
        with pytest.raises(NpuSmiParseError) as info:
            parse_npu_smi_info(text)
        assert info.value.first_lines == text.splitlines()[:10]
        if text:
            assert 'Permission denied' in str(info.value)
        else:
            assert 'nothing' in str(info.value)

    def test_failure_message_is_not_a_table(self):
        text = 'DrvMngGetConsoleLogLevel failed. (ret=4)\ndcmi module initialize failed. ret is -8005\n'
        with pytest.raises(NpuSmiParseError) as info:
            parse_npu_smi_info(text)
        assert info.value.first_lines == text.splitlines()
        assert '-8005' in str(info.value)

    def test_none_raises(self):
        with pytest.raises(NpuSmiParseError):
            parse_npu_smi_info(None)

    def test_header_only_gives_no_chips(self):
        text = '\n'.join(read(IDLE_32G).splitlines()[:6]) + '\n'
        result = parse_npu_smi_info(text)
        assert result == {'npu_smi_version': '25.0.rc1.1', 'chips': [], 'processes': []}
        assert not chips_healthy(result['chips'])

    def test_column_widths_do_not_matter(self):
        # Squeeze every run of spaces: a width-dependent parser would break.
        import re
        squeezed = re.sub(r' {2,}', ' ', read(BUSY_64G))
        assert parse_npu_smi_info(squeezed) == parse_npu_smi_info(read(BUSY_64G))


class TestMappingAndList(object):
    def test_mapping_capture(self):
        mapping = parse_npu_smi_mapping(read('atlas800ia2_910b4x8_info-m.txt'))
        assert len(mapping) == 8
        assert mapping[0] == {'npu_id': 0, 'chip_id': 0, 'logical_id': 0, 'name': 'Ascend 910B4'}
        assert [m['logical_id'] for m in mapping] == list(range(8))
        assert all(m['name'] != 'Mcu' for m in mapping)

    def test_mapping_subset(self):
        mapping = parse_npu_smi_mapping(variant('npu-smi_info-m_subset_npu4-7.txt'))
        assert [(m['npu_id'], m['logical_id']) for m in mapping] == [(4, 4), (5, 5), (6, 6), (7, 7)]

    def test_mapping_not_a_table(self):
        with pytest.raises(NpuSmiParseError):
            parse_npu_smi_mapping('dcmi module initialize failed. ret is -8005\n')
        with pytest.raises(NpuSmiParseError):
            parse_npu_smi_mapping('')

    def test_list_capture(self):
        result = parse_npu_smi_list(read('atlas800ia2_910b4x8_info-l.txt'))
        assert result['total_count'] == 8
        assert result['npus'] == [{'npu_id': i, 'chip_count': 1} for i in range(8)]

    def test_list_not_a_list(self):
        with pytest.raises(NpuSmiParseError):
            parse_npu_smi_list('garbage\n')

    def test_merge_logical_ids(self):
        chips = parse_npu_smi_info(variant('npu-smi_25.0.rc1.1_subset_npu4-7.txt'))['chips']
        mapping = [{'npu_id': 4, 'chip_id': 0, 'logical_id': 0, 'name': 'Ascend 910B4'},
                   {'npu_id': 5, 'chip_id': 0, 'logical_id': 1, 'name': 'Ascend 910B4'}]
        merged = merge_logical_ids(chips, mapping)
        assert [c['logical_id'] for c in merged] == [0, 1, None, None]
        assert 'logical_id' not in chips[0]
        assert [c['logical_id'] for c in merge_logical_ids(chips, None)] == [None] * 4


class TestClassify(object):
    @staticmethod
    def chips(name, total, count=8):
        return [{'name': name, 'hbm_total_mb': total, 'health': 'OK'} for dummy in range(count)]

    @pytest.mark.parametrize('name', ['910B4', '910B3', '910B', 'Ascend910', 'Ascend 910B4', 'ascend910b4'])
    def test_910b_names(self, name):
        assert chip_is_910b(name)
        assert classify_profile(self.chips(name, 32768)) == 'atlas-800i-a2-32g'
        assert classify_profile(self.chips(name, 65536)) == 'atlas-800i-a2-64g'

    @pytest.mark.parametrize('chips', [
        [{'name': '910B4', 'hbm_total_mb': 32768}] * 4,
        [{'name': '910B4', 'hbm_total_mb': 32768}] * 16,
        [{'name': '310P3', 'hbm_total_mb': 32768}] * 8,
        [{'name': '910B4', 'hbm_total_mb': 32768}] * 7 + [{'name': '910B4', 'hbm_total_mb': 65536}],
        [{'name': '910B4', 'hbm_total_mb': 49152}] * 8,
        [{'name': '910B4', 'hbm_total_mb': None}] * 8,
        [],
        None,
    ])
    def test_other_hardware(self, chips):
        assert classify_profile(chips) is None
