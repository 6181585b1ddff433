#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mindie_inference
short_description: Run the atb-models Qwen2-VL pure model inference (run_pa.sh) in a MindIE container
description:
  - Runs the deployment guide's pure model inference (section 5) inside a running MindIE container and
    returns its figures (latency, throughput, generated tokens, answers, warm-up memory and, with O(benchmark),
    the prefill / decode / end-to-end times).
  - Reads O(script) from the container and sets its variables the way the guide tells you to edit them
    (E(ASCEND_RT_VISIBLE_DEVICES), C(model_path), C(max_batch_size), C(max_input_length), C(max_output_length),
    C(input_image), C(input_text), C(dataset_path), C(shm_name_save_path)). Each assignment line is replaced as
    a whole; a variable the script lacks is inserted after the script's header. With O(dataset_path), the
    option C(--dataset_path "$dataset_path") is added to the script's C(base_cmd) unless it already passes it.
  - The edited copy is written beside the script as C(run_pa.ansible.sh) (only when its content differs);
    the original script is left untouched.
  - The copy runs with C(bash) after sourcing O(set_env_scripts), from the atb-models root directory (the
    directory above C(examples/) in O(script), normally C(/usr/local/Ascend/atb-models)), with the parameters
    also exported as environment variables of the same names.
  - run_pa prints its figures through the model's logger (atb-models / mindie_llm), which writes to the console
    only with E(MINDIE_LOG_TO_STDOUT=1) (MindIE's C(set_env.sh) resets it to 0) and otherwise to
    C(~/mindie/log/debug/mindie-llm_<pid>_<time>.log) only; its console lines carry the
    C([time] [pid] [tid] [llmmodels] [INFO] [file-line] :) prefix. The module exports E(MINDIE_LOG_TO_STDOUT=1)
    after sourcing O(set_env_scripts) and reads the figures from those prefixed lines (stdout and stderr together).
  - The module fails, with the last 30 output lines and a hint for the known causes, when the script exits
    non-zero or prints no C(Latency(s)) / C(Throughput(tokens/s)) line.
  - C(changed) is true when the edited copy had to be written into the container (in check mode, when it would be);
    the run itself is a measurement and changes nothing. A second run with the same options reports no change.
author:
  - ascend.mindie maintainers (@ascend-mindie)
requirements:
  - Docker SDK for Python (C(docker)) on the node that runs the module.
  - A Docker engine on that node, with the MindIE container running, the model's Python requirements
    installed in it (see the P(ascend.mindie.dependencies#role) role) and the NPUs visible in it.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ascend.mindie.attributes
attributes:
  check_mode:
    details: Reads the script and returns the parameters and the lines it would rewrite, without writing or running anything.
options:
  container:
    description:
      - Name or id of the running MindIE container.
    type: str
    required: true
  script:
    description:
      - Path of the atb-models C(run_pa.sh) inside the container (absolute, without control characters).
    type: str
    default: /usr/local/Ascend/atb-models/examples/models/qwen2_vl/run_pa.sh
  visible_devices:
    description:
      - Logical NPU ids to run on; they become E(ASCEND_RT_VISIBLE_DEVICES) and the number of them the world size.
      - The guide's NPU counts per hardware profile are in the collection's profile table (field C(npu_counts) of the
        lookup P(ascend.mindie.mindie_profiles#lookup)).
    type: list
    elements: int
    required: true
  model_path:
    description:
      - Directory of the Qwen2-VL weights inside the container.
      - The real C(run_pa.sh) passes this path, O(input_image), O(dataset_path) and O(shm_name_save_path) unquoted
        through C(eval), so a path with white space, a quote, a backquote, a backslash, a control character,
        parentheses, braces, brackets or one of C($), C(;), C(&), C(|), C(<), C(>), C(*), C(?), C(!), C(#), C(~) is
        refused before anything runs.
    type: str
    required: true
  max_batch_size:
    description:
      - Batch size (continuous batching). The guide's batch size and benchmark figures per hardware profile are in the
        collection's profile table (fields C(inference) and C(run_pa_reference) of the lookup
        P(ascend.mindie.mindie_profiles#lookup)).
    type: int
    default: 1
  max_input_length:
    description:
      - Maximum input tokens; large images and long videos need more. The KV cache is sized from it.
    type: int
    default: 8192
  max_output_length:
    description:
      - Maximum output tokens per answer.
    type: int
    default: 80
  input_image:
    description:
      - Image or video inside the container (C(jpg), C(png), C(jpeg), C(mp4), C(wmv) or C(avi)).
      - The runner answers it O(max_batch_size) times. Not used when O(dataset_path) is set.
    type: str
    default: /data/test_images/sample.jpg
  input_text:
    description:
      - The prompt, placed after the image.
      - The real script passes it inside single quotes through C(eval). When the script evals, a prompt with a
        quote (C(') or C(")), C($), a backquote, a backslash or a control character (a newline) is refused before
        anything is written or run.
    type: str
    default: Explain the details in the image.
  dataset_path:
    description:
      - A directory of images or videos inside the container to run instead of O(input_image) (it wins, as in the guide).
      - V(null) does not use a dataset.
    type: str
  shm_name_save_path:
    description:
      - Where the runner saves its shared memory names (any text file; relative to the atb-models root).
    type: str
    default: ./shm_name.txt
  benchmark:
    description:
      - Set E(ATB_LLM_BENCHMARK_ENABLE=1), so that the runner prints its prefill, decode and end-to-end times
        (and writes C(benchmark_result/benchmark.csv) under the atb-models root).
      - When the script itself sets C(benchmark_options), that line is set to match.
    type: bool
    default: false
  env:
    description:
      - Extra environment variables for the run, exported after the module's own (so they win).
      - Names must be valid shell variable names; values are shell-quoted (a NUL character is refused).
      - E(MINDIE_LOG_TO_STDOUT) set to anything but on, or E(MINDIE_LOG_LEVEL) above C(INFO), for the C(llmmodels)
        component is refused before anything runs, since the runner would then print none of its figures.
    type: dict
    default: {}
  set_env_scripts:
    description:
      - Scripts sourced before the run, in order. run_pa needs the CANN toolkit, NNAL ATB and atb-models ones.
      - Absolute paths in the container, without control characters (newlines, NUL); they are shell-quoted.
    type: list
    elements: str
    default:
      - /usr/local/Ascend/ascend-toolkit/set_env.sh
      - /usr/local/Ascend/nnal/atb/set_env.sh
      - /usr/local/Ascend/atb-models/set_env.sh
  timeout:
    description:
      - Seconds the run may take; it is then terminated and the module fails.
    type: int
    default: 1800
  refuse_held_npus:
    description:
      - Look for MindIE's daemon and workers among the container's processes first and refuse to run when one holds
        the NPUs (see the notes). V(false) skips the look, for example in check mode after a stop that check mode only
        announced.
    type: bool
    default: true
  docker_host:
    description:
      - URL of the Docker engine, for example V(unix:///var/run/docker.sock).
      - When not set, the environment (E(DOCKER_HOST), ...) or the local socket is used.
    type: str
notes:
  - The runner binds E(MASTER_PORT) (20031 in the script) and needs the NPUs' memory, so it cannot run while a
    MindIE Service daemon holds the same NPUs. The module looks for MindIE's daemon and workers among the container's
    processes first (also in check mode) and, when it finds one, fails naming them before anything is written or
    run; stop that instance first (M(ascend.mindie.mindie_service) with
    O(ascend.mindie.mindie_service#module:state=stopped), or the P(ascend.mindie.inference#role) role's
    C(mindie_inference_stop_service)).
seealso:
  - module: ascend.mindie.mindie_service
  - module: ascend.mindie.npu_facts
'''

EXAMPLES = r'''
- name: The guide's 32G benchmark (batch 4 on all eight NPUs)
  ascend.mindie.mindie_inference:
    container: mindie
    visible_devices: [0, 1, 2, 3, 4, 5, 6, 7]
    model_path: /data/Qwen2-VL-7B-Instruct/
    max_batch_size: 4
    input_image: /data/test_images/1902x1080.jpg
    benchmark: true
  register: run

- name: Show the figures
  ansible.builtin.debug:
    msg: "{{ run.total_generated_tokens }} tokens in {{ run.latency_s }} s = {{ run.throughput_tokens_per_s }} tokens/s"

- name: A whole dataset on four NPUs of a 64G node
  ascend.mindie.mindie_inference:
    container: mindie
    visible_devices: [0, 1, 2, 3]
    model_path: /data/Qwen2-VL-7B-Instruct/
    max_batch_size: 16
    dataset_path: /data/test_images
    timeout: 3600

- name: Only show what would be set in the script
  ascend.mindie.mindie_inference:
    container: mindie
    visible_devices: [0, 1, 2, 3, 4, 5, 6, 7]
    model_path: /data/Qwen2-VL-7B-Instruct/
  check_mode: true
  register: plan
'''

RETURN = r'''
latency_s:
  description: C(Latency(s)) printed by the runner (end-to-end seconds of the generation).
  returned: success
  type: float
  sample: 7.44
throughput_tokens_per_s:
  description: C(Throughput(tokens/s)) printed by the runner.
  returned: success
  type: float
  sample: 43.01
generated_tokens:
  description: C(Generate[i] token num) of every answer, by index.
  returned: success
  type: list
  elements: int
  sample: [80, 80, 80, 80]
total_generated_tokens:
  description: Sum of RV(generated_tokens); V(null) when none was printed.
  returned: success
  type: int
  sample: 320
answers:
  description: Every question with its answer and token count, by index.
  returned: success
  type: list
  elements: dict
  contains:
    index:
      description: Index the runner printed.
      type: int
      returned: always
    question:
      description: The C(Question[i]) text (the media and the prompt).
      type: str
      returned: always
    answer:
      description: The C(Answer[i]) text (may span lines).
      type: str
      returned: always
    tokens:
      description: The C(Generate[i] token num).
      type: int
      returned: always
  sample: [{"index": 0, "question": "[{'image': '/data/test_images/sample.jpg'}, {'text': 'Explain the details in the image.'}]",
            "answer": "The image is a 1902x1080 JPEG picture. ...", "tokens": 80}]
questions:
  description: The same list as RV(answers).
  returned: success
  type: list
  elements: dict
warmup_memory_gb:
  description: C(warmup_memory(GB)) printed by the runner; V(null) when it printed none.
  returned: success
  type: float
  sample: 20.35
benchmark:
  description: The runner's benchmark line (with O(benchmark)); V(null) when it printed none.
  returned: success
  type: dict
  contains:
    prefill_ms:
      description: Prefill time (first token) in ms.
      type: float
      returned: always
    prefill_average_ms:
      description: Prefill average time in ms.
      type: float
      returned: always
    decode_token_ms:
      description: Decode time per token in ms.
      type: float
      returned: always
    e2e_ms:
      description: End-to-end time in ms.
      type: float
      returned: always
  sample: {"prefill_ms": 2378.5, "prefill_average_ms": 2378.5, "decode_token_ms": 63.6, "e2e_ms": 7440.2}
command:
  description: The bash script the module ran (or would run) in the container.
  returned: always
  type: str
  sample: "cd /usr/local/Ascend/atb-models || exit 1\nsource /usr/local/Ascend/ascend-toolkit/set_env.sh\n..."
script_copy:
  description: Path of the edited copy of the script in the container.
  returned: always
  type: str
  sample: /usr/local/Ascend/atb-models/examples/models/qwen2_vl/run_pa.ansible.sh
script_copy_updated:
  description: Whether the copy was (or in check mode would be) written because its content differed.
  returned: always
  type: bool
  sample: false
parameters:
  description: The effective parameters of the run.
  returned: always
  type: dict
  sample: {"visible_devices": [0, 1, 2, 3, 4, 5, 6, 7], "world_size": 8, "model_path": "/data/Qwen2-VL-7B-Instruct/",
           "max_batch_size": 4, "max_input_length": 8192, "max_output_length": 80,
           "input_image": "/data/test_images/sample.jpg", "input_text": "Explain the details in the image.",
           "dataset_path": null, "shm_name_save_path": "./shm_name.txt", "benchmark": false}
rewritten_lines:
  description:
    - "Every line of the copy that differs from the script, as C(<line number>: <new text>), inserted variables
      and the C(--dataset_path) addition included."
  returned: always
  type: list
  elements: str
  sample: ["6: export ASCEND_RT_VISIBLE_DEVICES=\"0,1,2,3,4,5,6,7\"", "10: max_batch_size=\"4\""]
inserted_variables:
  description: Variables the script did not assign, inserted after its header.
  returned: always
  type: list
  elements: str
  sample: []
output_tail:
  description: The last 40 lines of the run's output (stdout and stderr together).
  returned: when the script ran
  type: list
  elements: str
rc:
  description: Exit code of the run.
  returned: when the script ran
  type: int
  sample: 0
holders:
  description: The MindIE processes of the container that hold its NPUs, when the module refused to run because of them.
  returned: when a MindIE Service daemon runs in the container
  type: list
  elements: dict
  sample: [{"pid": 4123, "name": "mindieservice_d", "cmdline": "./bin/mindieservice_daemon"}]
hint:
  description: What probably went wrong, matched from the output.
  returned: on failure, when a known cause matched
  type: str
  sample: "A Python requirement of the model is missing in the container: run the ascend.mindie.dependencies role."
'''

import posixpath
import re
import uuid
from shlex import quote

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ascend.mindie.plugins.module_utils.container_manager import ContainerManager, run_container_manager
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_daemon import is_mindie_process
from ansible_collections.ascend.mindie.plugins.module_utils.mindie_docker import (
    CONTAINER_NAME,
    ENV_NAME,
    SET_ENV_SCRIPTS,
    MindieDockerClient,
    MindieDockerError,
)
from ansible_collections.ascend.mindie.plugins.module_utils.run_pa import (
    SUPPORTED_MEDIA,
    has_assignment,
    logger_env_problems,
    parse_output,
    rewrite_script_details,
    tail,
)

DEFAULT_SCRIPT = '/usr/local/Ascend/atb-models/examples/models/qwen2_vl/run_pa.sh'
ATB_MODELS_ROOT = '/usr/local/Ascend/atb-models'
COPY_NAME = 'run_pa.ansible.sh'
# run_pa.sh needs the toolkit, NNAL ATB and atb-models environments, not MindIE Service's.
RUN_PA_SET_ENV_SCRIPTS = list(SET_ENV_SCRIPTS[:3])
FAIL_LINES = 30
TAIL_LINES = 40
TIMEOUT_RC = 124
SET_ENV_MISSING_RC = 98
CONTROL = re.compile(r'[\x00-\x1f\x7f]')
# The real run_pa.sh builds base_cmd as one string with the paths unquoted and evals it, so these characters in a
# path would be run as shell code (or split the path): refused in model_path, input_image, dataset_path and
# shm_name_save_path.
UNSAFE_IN_PATH = re.compile(r'[\x00-\x1f\x7f\s\'"`$\\;&|<>(){}\[\]*?!#~]')
# input_text goes into that string inside single quotes: refused with these when the script evals.
UNSAFE_IN_EVAL_TEXT = re.compile(r'[\x00-\x1f\x7f\'"`$\\]')
PATH_OPTIONS = ('model_path', 'input_image', 'dataset_path', 'shm_name_save_path')
# Prints "<pid>\t<comm>\t<cmdline>" of every process in the container: a MindIE daemon or worker among them holds
# the container's NPUs (HBM, MASTER_PORT), which run_pa needs free.
PROCESS_LIST_SCRIPT = (
    'for d in /proc/[0-9]*; do [ -r "$d/comm" ] || continue; c=$(cat "$d/comm" 2>/dev/null) || continue;'
    ' l=$(tr \'\\0\' \' \' < "$d/cmdline" 2>/dev/null | head -c 300); printf \'%s\\t%s\\t%s\\n\' "${d#/proc/}" "$c" "$l"; done\n'
)

HINTS = (
    (('No module named', 'ModuleNotFoundError'),
     "A Python requirement of the model is missing in the container: run the ascend.mindie.dependencies role "
     "(pip install -r requirements/models/requirements_qwen2_vl.txt)."),
    (('cannot open shared object file', 'error while loading shared libraries', 'set_env script'),
     "The Ascend environment is not set: the set_env.sh scripts of the CANN toolkit, NNAL ATB and atb-models must "
     "exist in the container and be sourced (set_env_scripts)."),
    (('out of memory',),
     "The NPUs ran out of memory: lower max_batch_size or max_input_length (the KV cache is sized from "
     "batch x (input + output)), and make sure no MindIE Service daemon holds the same NPUs."),
    (('input_image', 'dataset_path', 'FileNotFoundError'),
     "The input image (or dataset) is missing or unusable in the container: check input_image / dataset_path "
     "(a path inside the container, jpg/png/jpeg/mp4/wmv/avi)."),
    (('exceeds max_input_length',),
     "The prompt (image tokens included) is longer than max_input_length: raise it or use a smaller image."),
    (('not visible', 'aclrtSetDevice', 'ASCEND_RT_VISIBLE_DEVICES'),
     "An NPU in visible_devices is not usable in the container: pass /dev/davinciN for every id (logical ids) "
     "and check npu-smi info."),
    (('safetensors', 'model_path', 'Check path'),
     "The model directory is incomplete or has the wrong owner/mode: check model_path inside the container."),
    (('Log file size (-fs)', 'Log rotation count (-r)', 'MINDIE_LOG_ROTATE'),
     "MINDIE_LOG_ROTATE is out of range for the model's logger: -fs takes 1-500 (MB), -r 1-64 (files)."),
    (('failed to bind', 'Address already in use', 'MASTER_PORT'),
     "MASTER_PORT is in use: another run_pa (or a service) is running in the container; wait for it or stop it."),
)


def match_hint(text, rc=None):
    """Hints for the known causes found in ``text``, joined; None when none matched."""
    hints = []
    if rc == TIMEOUT_RC:
        hints.append('The run did not finish within timeout seconds: raise timeout, or lower max_batch_size / '
                     'max_output_length / the dataset size.')
    lowered = (text or '').lower()
    hints += [hint for needles, hint in HINTS if any(n.lower() in lowered for n in needles)]
    return ' '.join(hints) if hints else None


def env_value(value):
    """An env option value as the module exports it (booleans as 1 / 0, None as empty)."""
    if isinstance(value, bool):
        return '1' if value else '0'
    return '' if value is None else str(value)


def validate(params):
    """Problems with the options, as a list of messages (empty when fine)."""
    errors = []
    devices = params['visible_devices'] or []
    if not devices:
        errors.append('visible_devices must name at least one NPU (logical id).')
    duplicated = sorted(set(d for d in devices if devices.count(d) > 1))
    if duplicated:
        errors.append('visible_devices lists %s more than once.' % ', '.join(str(d) for d in duplicated))
    negative = [d for d in devices if d < 0]
    if negative:
        errors.append('visible_devices must be logical ids >= 0, not %s.' % ', '.join(str(d) for d in negative))
    for name in ('max_batch_size', 'max_input_length', 'max_output_length', 'timeout'):
        if params[name] < 1:
            errors.append('%s must be at least 1, not %d.' % (name, params[name]))
    image = params['input_image'] or ''
    ext = posixpath.splitext(image)[1].lower()
    if ext not in SUPPORTED_MEDIA:
        errors.append('input_image %s is not a supported file type (%s).'
                      % (image, '/'.join(e.lstrip('.') for e in SUPPORTED_MEDIA)))
    if not params['model_path']:
        errors.append('model_path must not be empty.')
    if params['dataset_path'] is not None and not params['dataset_path'].strip():
        errors.append('dataset_path must not be empty (leave it unset to use input_image).')
    for name in (params['env'] or {}):
        if not ENV_NAME.match(str(name)):
            errors.append('env: %r is not a valid environment variable name.' % (name,))
    errors += logger_env_problems(dict((str(k), env_value(v)) for k, v in (params['env'] or {}).items()))
    if not params['script'].startswith('/'):
        errors.append('script must be an absolute path in the container, not %s.' % params['script'])
    errors += validate_shell_inputs(params)
    return errors


def _chars(text, pattern):
    return ' '.join(sorted(set(repr(c)[1:-1] if c != ' ' else 'space' for c in pattern.findall(text))))


def validate_shell_inputs(params):
    """Problems with the options that reach a shell script (run_pa.sh, the module's own command)."""
    errors = []
    if not CONTAINER_NAME.match(params['container'] or ''):
        errors.append('container %r is not a Docker container name or id (letters, digits, _ . -).'
                      % (params['container'],))
    if CONTROL.search(params['script'] or ''):
        errors.append('script %r contains control characters (%s).' % (params['script'], _chars(params['script'], CONTROL)))
    scripts = params['set_env_scripts'] or []
    for path in scripts:
        if not path or not path.startswith('/'):
            errors.append('set_env_scripts: %r is not an absolute path in the container.' % (path,))
        elif CONTROL.search(path):
            errors.append('set_env_scripts: %r contains control characters (%s); give a plain absolute path.'
                          % (path, _chars(path, CONTROL)))
    for name in PATH_OPTIONS:
        value = params[name]
        if value is not None and UNSAFE_IN_PATH.search(value):
            errors.append('%s %r contains %s: run_pa.sh passes it unquoted through eval, where these characters are run '
                          'as shell code or split the path; rename the file or directory.'
                          % (name, value, _chars(value, UNSAFE_IN_PATH)))
    if '\x00' in (params['input_text'] or ''):
        errors.append('input_text contains a NUL character, which cannot be passed to the script.')
    for name, value in (params['env'] or {}).items():
        if isinstance(value, str) and '\x00' in value:
            errors.append('env: the value of %s contains a NUL character, which cannot be passed to the script.' % name)
    return errors


def script_evals(text):
    """Whether a non-comment line of the script runs eval (as the real run_pa.sh does with base_cmd)."""
    return any(re.search(r'(^|[\s;&|(])eval\b', line) for line in text.splitlines() if not line.lstrip().startswith('#'))


def atb_models_root(script):
    """The atb-models directory of a script under its ``examples/`` tree (the runner's working dir)."""
    marker = '/examples/'
    if marker in script:
        return script[:script.index(marker)] or '/'
    return ATB_MODELS_ROOT


def run_command(root, set_env_scripts, copy, exports, timeout):
    """The bash script that runs the copy: cd, source the set_env scripts, export, run with a time limit."""
    lines = ['exec 2>&1', 'cd %s || exit 1' % quote(root)]
    for path in set_env_scripts:
        lines.append('[ -f %s ] || { echo %s >&2; exit %d; }'
                     % (quote(path), quote('set_env script %s not found in the container' % path), SET_ENV_MISSING_RC))
        lines.append('source %s' % quote(path))
    lines += ['export %s=%s' % (name, quote(value)) for name, value in exports]
    lines += ['if command -v timeout >/dev/null 2>&1; then',
              '  timeout -k 30 %d bash %s' % (timeout, quote(copy)),
              'else',
              '  bash %s' % quote(copy),
              'fi']
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------- manager

class MindieInferenceManager(ContainerManager):
    """Runs run_pa.sh in one container through a MindieDockerClient."""

    def __init__(self, module, client):
        super(MindieInferenceManager, self).__init__(module, client)
        self.script = self.p['script']
        self.copy = posixpath.join(posixpath.dirname(self.script), COPY_NAME)
        self.root = atb_models_root(self.script)
        self.result = {'changed': False, 'script_copy': self.copy, 'parameters': self.parameters(),
                       'rewritten_lines': [], 'inserted_variables': [], 'script_copy_updated': False}

    def parameters(self):
        p = self.p
        return {
            'visible_devices': list(p['visible_devices']), 'world_size': len(p['visible_devices']),
            'model_path': p['model_path'], 'max_batch_size': p['max_batch_size'],
            'max_input_length': p['max_input_length'], 'max_output_length': p['max_output_length'],
            'input_image': p['input_image'], 'input_text': p['input_text'], 'dataset_path': p['dataset_path'],
            'shm_name_save_path': p['shm_name_save_path'], 'benchmark': p['benchmark'],
        }

    def script_variables(self):
        """The script's variables and their values, in the script's order (dataset_path only when set)."""
        p = self.p
        variables = [
            ('ASCEND_RT_VISIBLE_DEVICES', ','.join(str(d) for d in p['visible_devices'])),
            ('model_path', p['model_path']),
            ('max_batch_size', str(p['max_batch_size'])),
            ('max_input_length', str(p['max_input_length'])),
            ('max_output_length', str(p['max_output_length'])),
            ('input_image', p['input_image']),
            ('input_text', p['input_text']),
        ]
        if p['dataset_path'] is not None:
            variables.append(('dataset_path', p['dataset_path']))
        variables.append(('shm_name_save_path', p['shm_name_save_path']))
        return variables

    def exports(self):
        env = self.script_variables()
        env.append(('ATB_LLM_BENCHMARK_ENABLE', '1' if self.p['benchmark'] else '0'))
        # run_pa logs its figures through the model's logger: on the console only with this (set_env.sh sets 0)
        env.append(('MINDIE_LOG_TO_STDOUT', '1'))
        names = dict(env)
        order = [n for n, dummy in env]
        for name, value in (self.p['env'] or {}).items():
            name = str(name)
            if name not in names:
                order.append(name)
            names[name] = env_value(value)
        return [(n, names[n]) for n in order]

    def write_copy(self, text):
        delimiter = 'ANSIBLE_RUN_PA_%s' % uuid.uuid4().hex
        body = text if text.endswith('\n') else text + '\n'
        while delimiter in body:
            delimiter += 'X'
        tmp = '%s.tmp.%s' % (self.copy, uuid.uuid4().hex[:8])
        script = "cat > %s <<'%s'\n%s%s\nchmod 0755 %s && mv -f %s %s\n" % (
            quote(tmp), delimiter, body, delimiter, quote(tmp), quote(tmp), quote(self.copy))
        rc, out, err = self.client.exec_shell(script)
        if rc != 0:
            self.client.exec_shell('rm -f %s' % quote(tmp))
            self.fail('Cannot write %s in container %s: %s' % (self.copy, self.p['container'], (err or out).strip()))

    def service_holders(self):
        """The MindIE daemon and worker processes in the container ([{'pid', 'name', 'cmdline'}]): they hold its NPUs."""
        rc, out, err = self.client.exec_shell(PROCESS_LIST_SCRIPT)
        if rc != 0:
            self.fail('Cannot list the processes of container %s: %s' % (self.p['container'], (err or out).strip()))
        holders = []
        for line in out.splitlines():
            pid, dummy, rest = line.partition('\t')
            comm, dummy, cmdline = rest.partition('\t')
            if pid.isdigit() and is_mindie_process(comm, cmdline):
                holders.append({'pid': int(pid), 'name': comm, 'cmdline': cmdline.strip()})
        return holders

    def run(self):
        try:
            self.result['container'] = self.client.require_running()
        except MindieDockerError as exc:
            self.fail(str(exc))
        holders = self.service_holders() if self.p['refuse_held_npus'] else []
        if holders:
            self.fail('The MindIE Service daemon of container %s holds its NPUs (%s): run_pa needs them free (their HBM '
                      'and MASTER_PORT). Stop that instance first: mindie_inference_stop_service: true in the '
                      'ascend.mindie.inference role stops it, runs and starts it again, or ascend.mindie.mindie_service '
                      'state=stopped. Nothing was written or run.'
                      % (self.p['container'], ', '.join('pid %d %s' % (h['pid'], h['name']) for h in holders[:8])),
                      holders=holders)
        original = self.client.read_file(self.script)
        if original is None:
            self.fail('The inference script %s does not exist in container %s (is it a MindIE image with atb-models?).'
                      % (self.script, self.p['container']))

        variables = self.script_variables()
        if has_assignment(original, 'benchmark_options'):
            variables.append(('benchmark_options', 'ATB_LLM_BENCHMARK_ENABLE=%d' % (1 if self.p['benchmark'] else 0)))
        details = rewrite_script_details(original, dict(variables))
        for warning in details['warnings']:
            self.module.warn(warning)
        if script_evals(original) and UNSAFE_IN_EVAL_TEXT.search(self.p['input_text']):
            self.fail('input_text %r contains %s: %s passes it to eval inside single quotes, where these characters '
                      'end the quoting or run as shell code; rephrase the prompt without them. Nothing was written or run.'
                      % (self.p['input_text'], _chars(self.p['input_text'], UNSAFE_IN_EVAL_TEXT), self.script))
        self.result['rewritten_lines'] = ['%s: %s' % (c['line'] if c['line'] is not None else '-', c['new'])
                                          for c in details['lines']]
        self.result['inserted_variables'] = details['missing']
        exports = self.exports()
        command = run_command(self.root, self.p['set_env_scripts'], self.copy, exports, self.p['timeout'])
        self.result['command'] = command

        body = details['text'] if details['text'].endswith('\n') else details['text'] + '\n'
        self.result['script_copy_updated'] = self.client.read_file(self.copy) != body
        # Writing the copy is the module's one change to the container (the run is a measurement).
        if self.module.check_mode:
            self.result['changed'] = self.result['script_copy_updated']
            return self.result
        if self.result['script_copy_updated']:
            self.write_copy(body)
            self.result['changed'] = True

        rc, out, err = self.client.exec_run(['bash', '-c', command], workdir=self.root)
        output = out + (('\n' + err) if err else '')
        self.result['rc'] = rc
        self.result['output_tail'] = tail(output, TAIL_LINES)
        parsed = parse_output(output)
        self.result.update(parsed)
        if rc != 0 or parsed['latency_s'] is None or parsed['throughput_tokens_per_s'] is None:
            if rc == TIMEOUT_RC:
                reason = 'run_pa did not finish within %d s in container %s' % (self.p['timeout'], self.p['container'])
            elif rc != 0:
                reason = 'run_pa failed in container %s (exit code %d)' % (self.p['container'], rc)
            else:
                reason = 'run_pa printed no Latency(s) / Throughput(tokens/s) line in container %s' % self.p['container']
            last = tail(output, FAIL_LINES)
            hint = match_hint('\n'.join(last), rc)
            if rc == 0:
                logger_hint = ("run_pa logs its figures at INFO through the model's logger, on the console only with "
                               "MINDIE_LOG_TO_STDOUT=1 (the module exports it after set_env_scripts): a script that "
                               "sources MindIE's set_env.sh itself or sets MINDIE_LOG_TO_STDOUT/MINDIE_LOG_LEVEL resets it; "
                               "the figures are then only in ~/mindie/log/debug/mindie-llm_<pid>_<time>.log in the container.")
                hint = '%s %s' % (hint, logger_hint) if hint else logger_hint
            msg = reason + ('. Last lines:\n' + '\n'.join(last) if last else '. It printed nothing.')
            extra = {}
            if hint:
                msg += '\nHint: ' + hint
                extra['hint'] = hint
            self.fail(msg, **extra)
        return self.result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type='str', required=True),
            script=dict(type='str', default=DEFAULT_SCRIPT),
            visible_devices=dict(type='list', elements='int', required=True),
            model_path=dict(type='str', required=True),
            max_batch_size=dict(type='int', default=1),
            max_input_length=dict(type='int', default=8192),
            max_output_length=dict(type='int', default=80),
            input_image=dict(type='str', default='/data/test_images/sample.jpg'),
            input_text=dict(type='str', default='Explain the details in the image.'),
            dataset_path=dict(type='str'),
            shm_name_save_path=dict(type='str', default='./shm_name.txt'),
            benchmark=dict(type='bool', default=False),
            env=dict(type='dict', default={}),
            set_env_scripts=dict(type='list', elements='str', default=list(RUN_PA_SET_ENV_SCRIPTS)),
            timeout=dict(type='int', default=1800),
            docker_host=dict(type='str'),
            refuse_held_npus=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    errors = validate(module.params)
    if errors:
        module.fail_json(msg=' '.join(errors))
    run_container_manager(module, MindieInferenceManager, lambda: MindieDockerClient(
        module.params['container'], docker_host=module.params['docker_host'], timeout=module.params['timeout'] + 120))


if __name__ == '__main__':
    main()
