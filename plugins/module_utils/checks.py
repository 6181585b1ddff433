# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One shape for every check result of the collection (prechecks, weight checks, diagnosis).

A check is a dict made by :func:`make`; every producer (module_utils/precheck.py, model_dir.py,
diagnose.py) builds it here, so ``mindie_precheck`` and ``mindie_diagnose`` return the same keys::

    {'id':            'npu_health',       # stable identifier of the check
     'category':      'npu',              # what was checked (see CATEGORIES)
     'status':        'fail',             # pass | info | warn | fail (STATUSES)
     'message':       'unhealthy: NPU 3 is Alarm',
     'hint':          'Inspect with ...', # what to do ('' when nothing)
     'guide_section': '7.1.1',            # the deployment guide's section, '' when none
     'details':       {},                 # structured extras (counts, paths), never needed to read the message
     # the same facts under the names the two modules have always returned (kept for their consumers):
     'name':     'npu_health',            # = id        (mindie_precheck, the prechecks role, the fleet report)
     'reason':   'unhealthy: ...',        # = message   (mindie_precheck, the prechecks role's table and failure)
     'problem':  'npu',                   # = category  (mindie_diagnose, playbooks/collect_logs.yml)
     'severity': 'error'}                 # = SEVERITY[status] (mindie_diagnose, playbooks/collect_logs.yml)

One severity vocabulary, mildest first::

    status  pass   info   warn     fail
    rank    0      1      2        3
    severity (mindie_diagnose's word, derived)
            ok     info   warning  error

``pass`` is a check that found nothing wrong; ``info`` an observation that is not a problem (a daemon
still loading, HBM held by MindIE's own workers); ``warn`` works but is not what the guide says;
``fail`` stops a deployment (prechecks) or is why the service does not work (diagnosis). A diagnosis
lists only what is not ``pass`` (:func:`findings`), so its ``severity`` is error, warning or info.

Nothing here reads the node. A producer may add keys of its own beside these (model_checksums adds
``hashed``, ``cached``, ``cache_path`` and ``cache_changed``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

PASS, INFO, WARN, FAIL = 'pass', 'info', 'warn', 'fail'
# Mildest first; RANK orders them.
STATUSES = (PASS, INFO, WARN, FAIL)
RANK = dict((status, rank) for rank, status in enumerate(STATUSES))

# mindie_diagnose's names for the same statuses (its RETURN ``severity``).
OK, ERROR, WARNING = 'ok', 'error', 'warning'
SEVERITY = {PASS: OK, INFO: INFO, WARN: WARNING, FAIL: ERROR}
STATUS_OF_SEVERITY = dict((severity, status) for status, severity in SEVERITY.items())

# What a check is about. The prechecks use npu, host and model; the diagnosis names the guide's problems
# (section 7.1: service_start 7.1.1, out_of_memory 7.1.2, slow_inference 7.1.3, image_load 7.1.4) and the
# parts that make the service not start (config, npu, container: 7.1.1); model is the weight directory
# (read by both).
CATEGORIES = ('npu', 'host', 'model', 'config', 'container', 'service_start', 'out_of_memory', 'slow_inference',
              'image_load')
KEYS = ('id', 'category', 'status', 'message', 'hint', 'guide_section', 'details')
LEGACY_KEYS = {'name': 'id', 'reason': 'message', 'problem': 'category', 'severity': 'status'}


class CheckError(ValueError):
    """A check built with a status, id or category this module does not know (a bug of the caller)."""


def status_of(word):
    """The status for a status word or one of mindie_diagnose's severities (``error`` -> ``fail``)."""
    if word in RANK:
        return word
    if word in STATUS_OF_SEVERITY:
        return STATUS_OF_SEVERITY[word]
    raise CheckError('unknown check status %r: expected one of %s (or %s)'
                     % (word, ', '.join(STATUSES), ', '.join(sorted(STATUS_OF_SEVERITY))))


def make(check_id, category, status, message, hint='', guide_section='', details=None):
    """One check in the collection's shape (see the module docstring).

    ``status`` may be a status or a severity word. ``message`` and ``hint`` are kept as given (text);
    ``details`` is a dict of structured extras.
    """
    if not check_id or not isinstance(check_id, str):
        raise CheckError('a check needs an id, got %r' % (check_id,))
    if category not in CATEGORIES:
        raise CheckError('unknown check category %r for %s: expected one of %s'
                         % (category, check_id, ', '.join(CATEGORIES)))
    status = status_of(status)
    message = '%s' % (message,)
    hint = '%s' % (hint or '',)
    return {
        'id': check_id, 'category': category, 'status': status, 'message': message, 'hint': hint,
        'guide_section': guide_section or '', 'details': dict(details or {}),
        'name': check_id, 'reason': message, 'problem': category, 'severity': SEVERITY[status],
    }


def worst(checks):
    """The worst status of ``checks`` (``pass`` for none)."""
    status = PASS
    for check in checks:
        if RANK[check['status']] > RANK[status]:
            status = check['status']
    return status


def count(checks):
    """{status: how many} for every status."""
    counts = dict((status, 0) for status in STATUSES)
    for check in checks:
        counts[check['status']] += 1
    return counts


def ids(checks, status=FAIL):
    """The ids of the checks with ``status``, in order (``failed_checks`` of mindie_precheck)."""
    return [check['id'] for check in checks if check['status'] == status]


def findings(checks):
    """What a diagnosis reports: the checks that are not ``pass``, in order."""
    return [check for check in checks if check['status'] != PASS]


def sort_checks(checks):
    """Worst first, then by guide section (those without one last) and category; otherwise in the order given."""
    return sorted(checks, key=lambda c: (-RANK[c['status']], not c['guide_section'], c['guide_section'], c['category']))


def summarize(checks, collect_errors=()):
    """One line: the verdict (OK, WARN, FAIL), the counts and the problems found, worst first.

    ``OK: no problem found`` when nothing is ``warn`` or ``fail``; otherwise, for example,
    ``FAIL: 1 error(s), 2 warning(s): config (7.1.1), slow_inference (7.1.3); first: <message>``.
    ``collect_errors`` (what could not be collected) adds ``[n item(s) could not be collected]``.
    """
    counts = count(checks)
    if not counts[FAIL] and not counts[WARN]:
        line = 'OK: no problem found'
    else:
        ordered = sort_checks(checks)
        labels = []
        for check in ordered:
            if RANK[check['status']] < RANK[WARN]:
                continue
            label = '%s (%s)' % (check['category'], check['guide_section']) if check['guide_section'] else check['category']
            if label not in labels:
                labels.append(label)
        line = '%s: %d error(s), %d warning(s): %s; first: %s' % (
            'FAIL' if counts[FAIL] else 'WARN', counts[FAIL], counts[WARN], ', '.join(labels), ordered[0]['message'])
    if collect_errors:
        line += ' [%d item(s) could not be collected]' % len(collect_errors)
    return line
