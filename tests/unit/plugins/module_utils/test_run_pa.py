# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""run_pa.sh rewriting and output parsing (plugins/module_utils/run_pa.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import run_pa

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
SANDBOX_RUN_PA = os.path.join(REPO, 'sandbox/images/mindie-sim/rootfs/usr/local/Ascend/atb-models/examples/models/'
                                    'qwen2_vl/run_pa.sh')

# The shape of atb-models' own examples/models/qwen2_vl/run_pa.sh (plain assignments, a base_cmd
# string with backslash continuations, eval of run_cmd), edited as the guide's 5.1 shows.
REAL_RUN_PA = u'''#!/bin/bash
export BIND_CPU=1
export RESERVED_MEMORY_GB=0
export ASCEND_RT_VISIBLE_DEVICES=0
export MASTER_PORT=20031
export TP_WORLD_SIZE=$(($(echo "${ASCEND_RT_VISIBLE_DEVICES}" | grep -o , | wc -l) +1))

# 模型权重路径
model_path="/data/Qwen2-VL-7B-Instruct/"
max_batch_size=1
max_input_length=4096 #输入长视频或者较大分辨率图片时，需要设置较大的值
max_output_length=80
input_image="/data/test_images/sample.jpg"
# 若要推理整个数据集，在base_cmd入参中添加 --dataset_path $dataset_path
dataset_path="/data/test_images"
input_text="Explain the details in the image."
shm_name_save_path="./shm_name.txt"

benchmark_options="ATB_LLM_BENCHMARK_ENABLE=1"
atb_async_options="ATB_OPERATION_EXECUTE_ASYNC=1 TASK_QUEUE_ENABLE=1"

base_cmd="torchrun --nproc_per_node $TP_WORLD_SIZE --master_port $MASTER_PORT \\
    -m examples.models.qwen2_vl.run_pa \\
    --model_path $model_path \\
    --shm_name_save_path $shm_name_save_path \\
    --max_input_length $max_input_length \\
    --max_output_length $max_output_length \\
    --max_batch_size $max_batch_size \\
    --input_image $input_image \\
    --input_text '${input_text}'"
run_cmd="${benchmark_options} ${atb_async_options} ${base_cmd}"

if [[ -n ${model_path} ]];then
    eval "${run_cmd}"
fi
'''


def sandbox_script():
    with open(SANDBOX_RUN_PA) as handle:
        return handle.read()


def bash_eval(text, expr):
    """Source ``text`` with the command lines cut off and print ``expr``."""
    body = '\n'.join(':' if 'eval' in l or l.strip() == '"${base_cmd[@]}"' else l for l in text.split('\n'))
    proc = subprocess.run(['bash', '-c', body + '\nprintf "%s" ' + expr], capture_output=True, text=True,
                          env={'PATH': os.environ.get('PATH', '/usr/bin:/bin')})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# ---------------------------------------------------------------------- rewrite

def test_rewrite_real_script_sets_the_guide_variables():
    params = {'ASCEND_RT_VISIBLE_DEVICES': '0,1,2,3,4,5,6,7', 'model_path': '/data/Qwen2-VL-7B-Instruct/',
              'max_batch_size': 4, 'max_input_length': 8192, 'max_output_length': 80,
              'input_image': '/data/test_images/1902x1080.jpg', 'input_text': 'Explain the details in the image.',
              'shm_name_save_path': './shm_name.txt'}
    text, missing = run_pa.rewrite_script(REAL_RUN_PA, params)
    assert missing == []
    lines = text.split('\n')
    assert 'export ASCEND_RT_VISIBLE_DEVICES="0,1,2,3,4,5,6,7"' in lines
    assert 'max_batch_size="4"' in lines
    assert 'max_input_length="8192"' in lines          # the trailing comment goes with the old line
    assert 'input_image="/data/test_images/1902x1080.jpg"' in lines
    assert '# 若要推理整个数据集，在base_cmd入参中添加 --dataset_path $dataset_path' in lines
    assert 'dataset_path="/data/test_images"' in lines  # untouched: not given
    assert '--dataset_path \\"' not in text
    assert len(lines) == len(REAL_RUN_PA.split('\n'))
    assert bash_eval(text, '"$TP_WORLD_SIZE|$max_batch_size|$input_image"') == '8|4|/data/test_images/1902x1080.jpg'
    assert subprocess.run(['bash', '-n'], input=text, text=True).returncode == 0


def test_rewrite_quotes_values_safely():
    nasty = 'a "b" $HOME `id` \\ c'
    text, dummy = run_pa.rewrite_script(REAL_RUN_PA, {'model_path': nasty, 'input_text': "it's $(id)"})
    assert bash_eval(text, '"$model_path"') == nasty
    assert bash_eval(text, '"$input_text"') == "it's $(id)"


def test_rewrite_real_script_dataset_path_added_to_base_cmd_string():
    details = run_pa.rewrite_script_details(REAL_RUN_PA, {'dataset_path': '/data/my set', 'max_batch_size': 2})
    text = details['text']
    assert details['dataset_path_added'] == 'string'
    assert details['warnings'] == []
    assert 'dataset_path="/data/my set"' in text.split('\n')
    assert "--input_text '${input_text}' --dataset_path \\\"$dataset_path\\\"\"" in text
    cmd = bash_eval(text, '"$base_cmd"')
    assert cmd.endswith(""" --dataset_path "/data/my set\"""")
    # what eval would see: the dataset path stays one word
    words = subprocess.run(['bash', '-c', 'f() { for a in "$@"; do echo "[$a]"; done; }; eval "f ${0#torchrun}"', cmd],
                           capture_output=True, text=True).stdout.split('\n')
    assert '[/data/my set]' in words
    # a second rewrite does not add it again
    again = run_pa.rewrite_script_details(text, {'dataset_path': '/data/my set'})
    assert again['dataset_path_added'] is None and again['text'] == text and again['lines'] == []


def test_rewrite_dataset_path_not_added_when_a_comment_only_mentions_it():
    # the guide's comment line passes --dataset_path only in words; the base command must still get it
    assert not run_pa.passes_dataset_path(REAL_RUN_PA)


def test_rewrite_sandbox_script_keeps_export_and_its_own_dataset_path():
    original = sandbox_script()
    details = run_pa.rewrite_script_details(original, {
        'ASCEND_RT_VISIBLE_DEVICES': '0,1,2,3', 'model_path': '/data/Qwen2-VL-7B-Instruct/', 'max_batch_size': 4,
        'dataset_path': '/data/test_images'})
    text = details['text']
    assert details['missing'] == []
    assert 'export ASCEND_RT_VISIBLE_DEVICES="0,1,2,3"' in text.split('\n')
    assert 'max_batch_size="4"' in text.split('\n')
    assert 'dataset_path="/data/test_images"' in text.split('\n')
    assert 'pass_dataset_path=${dataset_path:+yes}' in text      # not an assignment of dataset_path
    assert details['dataset_path_added'] is None                  # base_cmd+=(--dataset_path ...) already there
    assert text.count('--dataset_path') == original.count('--dataset_path')
    assert [c['name'] for c in details['lines']] == ['ASCEND_RT_VISIBLE_DEVICES', 'model_path', 'max_batch_size',
                                                     'dataset_path']
    changed = dict((c['name'], c['line']) for c in details['lines'])
    assert text.split('\n')[changed['max_batch_size'] - 1] == 'max_batch_size="4"'


def test_rewrite_sandbox_array_base_cmd_gets_dataset_path():
    original = sandbox_script()
    stripped = original.replace('if [ -n "${pass_dataset_path}" ]; then\n    base_cmd+=(--dataset_path "${dataset_path}")\n'
                                'fi\n', '')
    assert stripped != original
    details = run_pa.rewrite_script_details(stripped, {'dataset_path': '/data/d'})
    assert details['dataset_path_added'] == 'array'
    assert '--shm_name_save_path "${shm_name_save_path}" --dataset_path "$dataset_path")' in details['text']
    assert subprocess.run(['bash', '-n'], input=details['text'], text=True).returncode == 0


def test_rewrite_missing_names_inserted_after_header_and_warning_without_base_cmd():
    script = '#!/bin/bash\n# header line\n# more header\n\nmax_batch_size=1\npython3 run.py --max_batch_size $max_batch_size\n'
    details = run_pa.rewrite_script_details(script, {'ASCEND_RT_VISIBLE_DEVICES': '0,1', 'max_batch_size': 2,
                                                     'model_path': '/m', 'dataset_path': '/d'})
    lines = details['text'].split('\n')
    assert details['missing'] == ['ASCEND_RT_VISIBLE_DEVICES', 'model_path', 'dataset_path']
    assert lines[:7] == ['#!/bin/bash', '# header line', '# more header', 'export ASCEND_RT_VISIBLE_DEVICES="0,1"',
                         'model_path="/m"', 'dataset_path="/d"', '']
    assert 'max_batch_size="2"' in lines
    assert details['dataset_path_added'] is None
    assert len(details['warnings']) == 1 and 'base_cmd' in details['warnings'][0]
    by_name = dict((c['name'], c) for c in details['lines'])
    assert lines[by_name['max_batch_size']['line'] - 1] == 'max_batch_size="2"'
    assert by_name['model_path']['old'] is None


def test_rewrite_leaves_commented_assignments_alone():
    script = '#!/bin/bash\nexport ASCEND_RT_VISIBLE_DEVICES=0,1,2,3,4,5,6,7  # 8卡配置\n' \
             '# export ASCEND_RT_VISIBLE_DEVICES=0,1,2,3        # 4卡配置\n'
    text, missing = run_pa.rewrite_script(script, {'ASCEND_RT_VISIBLE_DEVICES': '4,5,6,7'})
    assert text.split('\n')[1:3] == ['export ASCEND_RT_VISIBLE_DEVICES="4,5,6,7"',
                                     '# export ASCEND_RT_VISIBLE_DEVICES=0,1,2,3        # 4卡配置']
    assert missing == []


def test_rewrite_none_values_are_skipped():
    text, missing = run_pa.rewrite_script(REAL_RUN_PA, {'dataset_path': None, 'max_batch_size': 1})
    assert missing == [] and '--dataset_path \\"' not in text


# ---------------------------------------------------------------------- parse

SIM_OUTPUT = u'''warmup_memory(GB): 20.35
Question[0]: [{'image': '/data/test_images/1902x1080.jpg'}, {'text': 'Explain the details in the image.'}]
Answer[0]: The image is a 1902x1080 JPEG picture. It shows a harbour at dusk.
Generate[0] token num: 80
Question[1]: [{'image': '/data/test_images/1902x1080.jpg'}, {'text': 'Explain the details in the image.'}]
Answer[1]: The image is a 1902x1080 JPEG picture. It shows a harbour at dusk.
Generate[1] token num: 80
Question[2]: [{'image': '/data/test_images/1902x1080.jpg'}, {'text': 'Explain the details in the image.'}]
Answer[2]: The image is a 1902x1080 JPEG picture. It shows a harbour at dusk.
Generate[2] token num: 80
Question[3]: [{'image': '/data/test_images/1902x1080.jpg'}, {'text': 'Explain the details in the image.'}]
Answer[3]: The image is a 1902x1080 JPEG picture. It shows a harbour at dusk.
Generate[3] token num: 80
Latency(s): 7.441
Throughput(tokens/s): 43.01
Prefill time: 2378.512ms, Prefill average time: 2378.512ms, Decode token time: 63.579ms, E2E time: 7441.027ms
'''

# atb_llm's logger prefixes its records; a real answer may run over several lines.
LOGGED_OUTPUT = u'''[2025-03-01 10:00:01,001] [1234] [281473] [llm] [INFO] [run_pa.py-311] : warmup_memory(GB):  15.72
[2025-03-01 10:00:09,120] [1234] [281473] [llm] [INFO] [run_pa.py-350] : Question[0]: /data/test_images/sample.jpg
[2025-03-01 10:00:09,120] [1234] [281473] [llm] [INFO] [run_pa.py-351] : Answer[0]: The image shows:
1. A red car parked on the street.
2. Trees in the background.
[2025-03-01 10:00:09,121] [1234] [281473] [llm] [INFO] [run_pa.py-352] : Generate[0] token num: 37
[2025-03-01 10:00:09,121] [1234] [281473] [llm] [INFO] [run_pa.py-355] : Latency(s): 3.2087
[2025-03-01 10:00:09,121] [1234] [281473] [llm] [INFO] [run_pa.py-356] : Throughput(tokens/s): 11.53
'''


def test_parse_sim_output_with_benchmark():
    result = run_pa.parse_output(SIM_OUTPUT)
    assert result['latency_s'] == 7.441
    assert result['throughput_tokens_per_s'] == 43.01
    assert result['generated_tokens'] == [80, 80, 80, 80]
    assert result['total_generated_tokens'] == 320
    assert result['warmup_memory_gb'] == 20.35
    assert result['benchmark'] == {'prefill_ms': 2378.512, 'prefill_average_ms': 2378.512, 'decode_token_ms': 63.579,
                                   'e2e_ms': 7441.027}
    assert len(result['answers']) == 4 and result['questions'] == result['answers']
    first = result['answers'][0]
    assert first == {'index': 0, 'tokens': 80,
                     'question': "[{'image': '/data/test_images/1902x1080.jpg'}, {'text': 'Explain the details in the image.'}]",
                     'answer': 'The image is a 1902x1080 JPEG picture. It shows a harbour at dusk.'}


def test_parse_logged_output_and_multiline_answer():
    result = run_pa.parse_output(LOGGED_OUTPUT)
    assert result['latency_s'] == 3.2087 and result['throughput_tokens_per_s'] == 11.53
    assert result['warmup_memory_gb'] == 15.72
    assert result['benchmark'] is None
    assert result['generated_tokens'] == [37] and result['total_generated_tokens'] == 37
    assert result['answers'][0]['answer'] == ('The image shows:\n1. A red car parked on the street.\n'
                                              '2. Trees in the background.')
    assert result['answers'][0]['question'] == '/data/test_images/sample.jpg'


def test_parse_failed_run():
    text = u'''Traceback (most recent call last):
  File "run_pa.py", line 1, in <module>
ModuleNotFoundError: No module named 'tabulate'
'''
    result = run_pa.parse_output(text)
    assert result == {'latency_s': None, 'throughput_tokens_per_s': None, 'warmup_memory_gb': None, 'benchmark': None,
                      'answers': [], 'questions': [], 'generated_tokens': [], 'total_generated_tokens': None}


def test_parse_out_of_order_and_partial():
    text = 'Generate[1] token num: 5\nAnswer[0]: a\nGenerate[0] token num: 7\nwarmup_memory(GB): 1\n' \
           'RuntimeError: NPU out of memory\n'
    result = run_pa.parse_output(text)
    assert result['generated_tokens'] == [7, 5] and result['total_generated_tokens'] == 12
    assert result['answers'][1]['answer'] is None and result['answers'][0]['answer'] == 'a'
    assert result['latency_s'] is None and result['warmup_memory_gb'] == 1.0


@pytest.mark.parametrize('text,count,expected', [('a\n\nb\nc\n', 2, ['b', 'c']), ('', 3, []), ('x', 0, [])])
def test_tail(text, count, expected):
    assert run_pa.tail(text, count) == expected


# What a 3.0 runner prints with MINDIE_LOG_TO_STDOUT=1: every record through the llmmodels logger on stderr,
# the verbose prefix, a WARN record and an error-coded record in between, a multi-line answer, the benchmark line.
def _rec(time, level, where, message):
    return u'[2026-03-02 %s] [20871] [281472993816608] [llmmodels] [%s] [%s] : %s' % (time, level, where, message)


LOGGED_OUTPUT_30 = u'\n'.join([
    _rec('09:14:05,117', 'INFO', 'run_pa.py-130', '---------------Begin warm_up---------------'),
    _rec('09:14:21,540', 'INFO', 'run_pa.py-156', 'warmup_memory(GB):  20.35'),
    _rec('09:14:21,541', 'INFO', 'run_pa.py-161', '---------------End warm_up---------------'),
    _rec('09:14:21,602', 'WARN', 'weight_utils.py-88', 'Using default chat template'),
    _rec('09:14:29,044', 'INFO', 'run_pa.py-393', "Question[0]: [{'image': '/data/test_images/1902x1080.jpg'}, {'text': 'Explain the details in the image.'}]"),
    _rec('09:14:29,044', 'INFO', 'run_pa.py-394', 'Answer[0]: The picture shows a harbour:'),
    '- boats at the pier',
    '- a lighthouse',
    _rec('09:14:29,045', 'ERROR', 'run_pa.py-245', '[MIE04E13030A] Release shared memory failed: x'),
    _rec('09:14:29,045', 'INFO', 'run_pa.py-395', 'Generate[0] token num: 80'),
    _rec('09:14:29,045', 'INFO', 'run_pa.py-397', 'Latency(s): 7.441027355194092'),
    _rec('09:14:29,045', 'INFO', 'run_pa.py-398', 'Throughput(tokens/s): 10.751222'),
    _rec('09:14:29,046', 'INFO', 'runner.py-211', 'Prefill time: 2378.5ms, Prefill average time: 2378.5ms, Decode token time: 63.6ms, E2E time: 7441.0ms'),
    '',
]) + u'\n'


def test_parse_30_logger_prefixed_output():
    result = run_pa.parse_output(LOGGED_OUTPUT_30)
    assert result['latency_s'] == 7.441027355194092 and result['throughput_tokens_per_s'] == 10.751222
    assert result['warmup_memory_gb'] == 20.35
    assert result['generated_tokens'] == [80]
    assert result['answers'][0]['answer'] == 'The picture shows a harbour:\n- boats at the pier\n- a lighthouse'
    assert result['answers'][0]['question'].startswith("[{'image': '/data/test_images/1902x1080.jpg'}")
    assert result['benchmark'] == {'prefill_ms': 2378.5, 'prefill_average_ms': 2378.5, 'decode_token_ms': 63.6,
                                   'e2e_ms': 7441.0}


def test_parse_short_logger_format():
    """MINDIE_LOG_VERBOSE=0: ``[time] : [INFO] msg``."""
    text = u'[2026-03-02 09:14:29,045] : [INFO] Generate[0] token num: 9\n' \
           u'[2026-03-02 09:14:29,045] : [INFO] Latency(s): 1.5\n[2026-03-02 09:14:29,045] : [INFO] Throughput(tokens/s): 6\n'
    result = run_pa.parse_output(text)
    assert result['latency_s'] == 1.5 and result['throughput_tokens_per_s'] == 6.0 and result['generated_tokens'] == [9]


@pytest.mark.parametrize('value,expected', [('1', '1'), ('llm:0;llmmodels:1', '1'), ('llmmodels:1;llm:0', '1'),
                                            ('llm:1', ''), ('0;llmmodels:1', '1'), ('llmmodels:1;0', '0'), ('', '')])
def test_component_config(value, expected):
    assert run_pa.component_config(value) == expected


def test_logger_env_problems():
    assert run_pa.logger_env_problems({}) == []
    assert run_pa.logger_env_problems({'MINDIE_LOG_TO_STDOUT': 'TRUE', 'MINDIE_LOG_LEVEL': 'info'}) == []
    assert len(run_pa.logger_env_problems({'MINDIE_LOG_TO_STDOUT': 'llm:1', 'MINDIE_LOG_LEVEL': 'CRITICAL'})) == 2
    # an unknown level is INFO for the real logger
    assert run_pa.logger_env_problems({'MINDIE_LOG_LEVEL': 'LOUD'}) == []
