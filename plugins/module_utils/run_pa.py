# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers around atb-models' ``examples/models/qwen2_vl/run_pa.sh`` (the guide's section 5).

``rewrite_script`` sets the script's variables the way the guide tells a user to edit them, and
``parse_output`` reads what the runner prints. No I/O here; the module does the container part.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

SUPPORTED_MEDIA = ('.jpg', '.png', '.jpeg', '.mp4', '.wmv', '.avi')

_ASSIGN = r'^(?P<indent>[ \t]*)(?P<export>export[ \t]+)?%s='
_NUMBER = r'([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)'
_INDEXED = re.compile(r'(?:^|[\s:\]>|])(Question|Answer|Generate)\[(\d+)\](?: token num)?:[ \t]?(.*)$')
_LATENCY = re.compile(r'Latency\(s\):\s*' + _NUMBER)
_THROUGHPUT = re.compile(r'Throughput\(tokens/s\):\s*' + _NUMBER)
_WARMUP = re.compile(r'warmup_memory\(GB\):\s*' + _NUMBER)
_BENCHMARK = (
    ('prefill_ms', re.compile(r'Prefill time:\s*' + _NUMBER + r'\s*ms')),
    ('prefill_average_ms', re.compile(r'Prefill average time:\s*' + _NUMBER + r'\s*ms')),
    ('decode_token_ms', re.compile(r'Decode token time:\s*' + _NUMBER + r'\s*ms')),
    ('e2e_ms', re.compile(r'E2E time:\s*' + _NUMBER + r'\s*ms')),
)
# A line that ends a multi-line answer: another marker, a log record or a traceback.
_STOP = re.compile(r'(Question|Answer|Generate)\[\d+\]|Latency\(s\):|Throughput\(tokens/s\):|warmup_memory\(GB\):|'
                   r'Prefill time:|^\s*\[\d{4}-\d\d-\d\d|^\s*\d{4}-\d\d-\d\d[ T]\d\d:|^Traceback |^\S+(Error|Exception):')


# ---------------------------------------------------------------------- rewriting

def shell_quote(value):
    """``value`` as one double-quoted shell word (``\\``, ``"``, ``$`` and backquote escaped)."""
    text = u'%s' % (value,)
    return u'"' + re.sub(r'([\\"$`])', r'\\\1', text) + u'"'


def _is_comment(line):
    return line.lstrip().startswith('#')


def has_assignment(text, name):
    """Whether a non-comment line of ``text`` assigns ``name`` (optionally with export)."""
    pattern = re.compile(_ASSIGN % re.escape(name))
    return any(pattern.match(line) for line in text.splitlines())


def passes_dataset_path(text):
    """Whether a non-comment line mentions ``--dataset_path``."""
    return any('--dataset_path' in line for line in text.splitlines() if not _is_comment(line))


def _header_end(lines):
    """Index after the shebang and the comment lines right below it (the script's header)."""
    index = 0
    if lines and lines[0].startswith('#!'):
        index = 1
    while index < len(lines) and _is_comment(lines[index]):
        index += 1
    return index


def _scan_to(text, start, closing):
    """Position of the unquoted ``closing`` character (``"`` or ``)``) at or after ``start``, or -1.

    ``start`` is just inside the opening quote or parenthesis. Handles backslashes, single and double
    quotes, ``$(...)`` / ``(...)`` nesting and comments well enough for run_pa.sh's base command.
    """
    i, depth, in_single, in_double = start, 0, False, closing == '"'
    while i < len(text):
        char = text[i]
        if in_single:
            if char == "'":
                in_single = False
        elif char == '\\':
            i += 2
            continue
        elif in_double:
            if char == '"':
                if closing == '"' and depth == 0:
                    return i
                in_double = False
            elif char == '$' and text[i + 1:i + 2] == '(':
                depth += 1
                i += 2
                continue
            elif char == ')' and depth > 0:
                depth -= 1
        else:
            if char == '"':
                in_double = True
            elif char == "'":
                in_single = True
            elif char == '#' and (i == 0 or text[i - 1] in ' \t\n'):
                newline = text.find('\n', i)
                i = len(text) if newline < 0 else newline
                continue
            elif char == '(':
                depth += 1
            elif char == ')':
                if depth == 0 and closing == ')':
                    return i
                depth -= 1
        i += 1
    return -1


def add_dataset_path(text):
    """Add ``--dataset_path "$dataset_path"`` to the script's base command.

    Returns (new text, form) where form is ``string`` (``base_cmd="torchrun ..."``), ``array``
    (``base_cmd=( ... )``) or None when no base command was found (text unchanged).
    """
    match = re.search(r'^[ \t]*(?:export[ \t]+)?base_cmd=(["(])', text, re.MULTILINE)
    if not match:
        return text, None
    opening = match.group(1)
    if opening == '"':
        end = _scan_to(text, match.end(), '"')
        if end < 0:
            return text, None
        return text[:end] + ' --dataset_path \\"$dataset_path\\"' + text[end:], 'string'
    end = _scan_to(text, match.end(), ')')
    if end < 0:
        return text, None
    return text[:end] + ' --dataset_path "$dataset_path"' + text[end:], 'array'


def rewrite_script_details(text, params):
    """Set the variables of a run_pa.sh text; everything ``rewrite_script`` knows, as a dict.

    ``params`` maps variable names to values (None values are skipped). Every non-comment line
    ``[export ]NAME=...`` is replaced as a whole by ``[export ]NAME="value"`` (``export`` kept when it
    was there). Names without such a line are inserted after the shebang and the opening comments
    (with ``export`` for upper-case names), so that they still take effect. When ``dataset_path`` is
    given and no non-comment line passes ``--dataset_path``, it is added to the base command as the
    guide says.

    Returns a dict: ``text``, ``missing`` (names inserted), ``lines`` (one dict per changed or
    inserted line: name, line number, old, new), ``dataset_path_added`` (``string``, ``array`` or
    None) and ``warnings``.
    """
    lines = text.split('\n')
    missing, changes, warnings = [], [], []
    for name, value in params.items():
        if value is None:
            continue
        pattern = re.compile(_ASSIGN % re.escape(name))
        found = False
        for index, line in enumerate(lines):
            match = pattern.match(line)
            if not match:
                continue
            found = True
            new = u'%s%s%s=%s' % (match.group('indent'), 'export ' if match.group('export') else '', name,
                                  shell_quote(value))
            if new != line:
                changes.append({'name': name, 'line': index + 1, 'old': line, 'new': new})
            lines[index] = new
        if not found:
            missing.append(name)
    if missing:
        at = _header_end(lines)
        inserted = []
        for name in missing:
            inserted.append(u'%s%s=%s' % ('export ' if name.isupper() else '', name, shell_quote(params[name])))
        inserted.append('')
        lines[at:at] = inserted
        # the line numbers of the earlier changes moved down
        for change in changes:
            if change['line'] > at:
                change['line'] += len(inserted)
        for offset, name in enumerate(missing):
            changes.append({'name': name, 'line': at + offset + 1, 'old': None, 'new': inserted[offset]})
    new_text = '\n'.join(lines)
    added = None
    if params.get('dataset_path') is not None and not passes_dataset_path(new_text):
        new_text, added = add_dataset_path(new_text)
        if added is None:
            warnings.append('dataset_path is set but no base_cmd="..." or base_cmd=( ... ) was found in the script to '
                            'add --dataset_path to; the script may ignore the dataset.')
        else:
            changes.append({'name': 'base_cmd', 'line': None, 'old': None,
                            'new': '--dataset_path "$dataset_path" added to base_cmd (%s)' % added})
    changes.sort(key=lambda c: (c['line'] is None, c['line'] or 0))
    return {'text': new_text, 'missing': missing, 'lines': changes, 'dataset_path_added': added,
            'warnings': warnings}


def rewrite_script(text, params):
    """Return (new text, names not found in the script). See ``rewrite_script_details``."""
    details = rewrite_script_details(text, params)
    return details['text'], details['missing']


# ---------------------------------------------------------------------- output

def _number(match, kind=float):
    if not match:
        return None
    try:
        value = float(match.group(1))
    except ValueError:
        return None
    return int(value) if kind is int else value


def parse_output(text):
    """What run_pa printed, as a dict; values it did not print are None.

    Keys: latency_s, throughput_tokens_per_s, generated_tokens (token counts ordered by index),
    total_generated_tokens, answers and questions (the same list of {index, question, answer,
    tokens}), warmup_memory_gb, benchmark ({prefill_ms, prefill_average_ms, decode_token_ms, e2e_ms}
    or None). Markers are found anywhere in a line, so log prefixes do not matter; an answer runs
    on over the following lines until the next marker or log record.
    """
    entries = {}
    result = {'latency_s': None, 'throughput_tokens_per_s': None, 'warmup_memory_gb': None, 'benchmark': None}
    open_answer = None
    for raw in (text or '').splitlines():
        line = raw.rstrip('\r')
        match = _INDEXED.search(line)
        if match:
            kind, index, rest = match.group(1), int(match.group(2)), match.group(3)
            entry = entries.setdefault(index, {'index': index, 'question': None, 'answer': None, 'tokens': None})
            open_answer = None
            if kind == 'Question':
                entry['question'] = rest.strip()
            elif kind == 'Answer':
                entry['answer'] = rest.rstrip()
                open_answer = entry
            else:
                number = re.match(r'\s*(\d+)', rest)
                entry['tokens'] = int(number.group(1)) if number else None
            continue
        if open_answer is not None:
            if _STOP.search(line):
                open_answer = None
            else:
                open_answer['answer'] += '\n' + line.rstrip()
                continue
        latency = _LATENCY.search(line)
        if latency:
            result['latency_s'] = _number(latency)
        throughput = _THROUGHPUT.search(line)
        if throughput:
            result['throughput_tokens_per_s'] = _number(throughput)
        warmup = _WARMUP.search(line)
        if warmup:
            result['warmup_memory_gb'] = _number(warmup)
        if 'Prefill time:' in line or 'E2E time:' in line:
            bench = dict((key, _number(pattern.search(line))) for key, pattern in _BENCHMARK)
            if any(v is not None for v in bench.values()):
                result['benchmark'] = bench
    answers = [entries[i] for i in sorted(entries)]
    for entry in answers:
        if entry['answer'] is not None:
            entry['answer'] = entry['answer'].rstrip('\n')
    tokens = [e['tokens'] for e in answers if e['tokens'] is not None]
    result['answers'] = answers
    result['questions'] = answers
    result['generated_tokens'] = tokens
    result['total_generated_tokens'] = sum(tokens) if tokens else None
    return result


# The model's logger (atb_llm.utils.log, mindie_llm/utils/log/logging_base.py in 3.0) writes run_pa's result lines
# to the console only with MINDIE_LOG_TO_STDOUT on, at INFO; the component of atb-models is ``llmmodels``.
LOGGER_COMPONENT = 'llmmodels'
_SWITCH_ON = ('1', 'TRUE')
_LEVELS = ('DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL')


def component_config(value, component=LOGGER_COMPONENT):
    """The value of a MINDIE_LOG_* variable for ``component`` (mindie_llm's get_component_config).

    ``value`` is either one value for every component or ``name:value`` entries separated by ``;``;
    the last entry that applies wins; an empty string when none applies.
    """
    for part in (value or '').split(';')[::-1]:
        pieces = part.split(':')
        if len(pieces) == 1:
            return pieces[0].strip()
        if len(pieces) == 2 and pieces[0].strip().lower() == component:
            return pieces[1].strip()
    return ''


def logger_env_problems(env):
    """Why the MINDIE_LOG_* values in ``env`` would hide run_pa's result lines from the console (list of messages)."""
    problems = []
    if 'MINDIE_LOG_TO_STDOUT' in env:
        value = component_config(u'%s' % (env['MINDIE_LOG_TO_STDOUT'],))
        if value.upper() not in _SWITCH_ON:
            problems.append('env: MINDIE_LOG_TO_STDOUT=%r turns the console log of the model (component llmmodels) off, '
                            'so run_pa would print none of its figures; leave it out (the module sets it to 1).'
                            % (env['MINDIE_LOG_TO_STDOUT'],))
    if 'MINDIE_LOG_LEVEL' in env:
        value = component_config(u'%s' % (env['MINDIE_LOG_LEVEL'],)).upper()
        if value in _LEVELS and _LEVELS.index(value) > _LEVELS.index('INFO'):
            problems.append('env: MINDIE_LOG_LEVEL=%r hides the INFO records run_pa prints its figures with; use INFO or '
                            'DEBUG for the llmmodels component.' % (env['MINDIE_LOG_LEVEL'],))
    return problems


def tail(text, count):
    """The last ``count`` non-empty lines of ``text``."""
    lines = [l.rstrip('\r') for l in (text or '').splitlines() if l.strip()]
    return lines[-count:] if count > 0 else []
