# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/mindie_logs.log_rotate_problem: the MINDIE_LOG_ROTATE values MindIE's logger refuses at start.

What it refuses is what the sandbox's simulator (which follows system_log.cpp and mindie_llm's logger) aborts on, so a
value the collection lets through starts the daemon, and one it refuses would have killed it with SIGABRT.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils.mindie_logs import LOG_ROTATE_ENV, log_rotate_problem

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
sys.path.insert(0, os.path.join(ROOT, 'sandbox', 'images', 'mindie-sim', 'rootfs', 'usr', 'local', 'Ascend', 'mindie',
                                '1.0.0', 'mindie-service', 'lib', 'simulator'))
from mindie_sim import common, llm_log  # noqa: E402  pylint: disable=wrong-import-position


def test_the_role_default_and_the_bounds_are_taken():
    assert LOG_ROTATE_ENV == 'MINDIE_LOG_ROTATE'
    for value in ('-fs 20 -r 10', '-fs 1 -r 1', '-fs 500 -r 64', '-r 3', '-fs 7', '', '  -fs   20\t-r 10 '):
        assert log_rotate_problem(value) is None, value


@pytest.mark.parametrize('value, fragment', [
    ('-fs 0 -r 10', '-fs takes the size of a log file in MB, an integer in [1, 500], got 0'),
    ('-fs 501 -r 10', 'an integer in [1, 500], got 501'),
    ('-fs 4096 -r 10', 'got 4096'),                 # MindIE's uint32 arithmetic wraps 4096 MB to 0 bytes
    ('-fs 20 -r 0', '-r takes the number of log files, an integer in [1, 64], got 0'),
    ('-fs 20 -r 65', 'got 65'),
    ('-fs 20MB -r 10', 'got 20MB'),
    ('-fs -3', 'got -3'),
    ('-fs 20 -r', 'every option needs its value'),
    ('-fs', 'every option needs its value'),
    ('20 10', 'unknown option 20'),
    ('-s 20 -r 10', 'unknown option -s'),
])
def test_what_mindie_refuses_is_refused_with_the_bound(value, fragment):
    assert fragment in log_rotate_problem(value)


@pytest.mark.parametrize('value', ['-fs 20 -r 10', '-fs 1 -r 64', '-fs 500', '-r 1', '',
                                   '-fs 0 -r 10', '-fs 501', '-fs 4096', '-r 0', '-r 65', '-fs 20x', '-fs -3',
                                   '-fs 20 -r', '-fs', '-r 1.5'])
def test_it_agrees_with_the_daemons_and_the_models_logger(value):
    """Accepted exactly when both of MindIE's parsers (the daemon's and the model side's) take the value."""
    try:
        common.log_rotate(value)
        llm_log.rotate_config(value)
        taken = True
    except (common.LogSettingsError, ValueError):
        taken = False
    assert (log_rotate_problem(value) is None) == taken, (value, log_rotate_problem(value))


def test_component_lists_are_checked_per_component():
    assert log_rotate_problem('llm:-fs 50 -r 20;server:-fs 20 -r 10') is None
    assert log_rotate_problem('*:-fs 6 -r 7;llm:-fs 2 -r 3;') is None
    assert log_rotate_problem('llm:-fs 50 -r 20;server:-fs 600') == (
        'server: -fs takes the size of a log file in MB, an integer in [1, 500], got 600')
    assert 'the component before ":" is empty' in log_rotate_problem(':-fs 20')


def test_other_values_are_refused():
    assert 'a string such as "-fs 20 -r 10" is expected' in log_rotate_problem(20)
    assert log_rotate_problem('-fs 20\n-r 10') == 'it contains control characters'
