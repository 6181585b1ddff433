# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ascend.mindie.mindie_image_tree: who sends the image tarball to whom, wave by wave.

The image role's ``tree`` distribution: the controller sends the tarball to ``seeds`` nodes (wave 0), unless some
node already holds a verified copy; then, wave after wave, every node that holds it sends it to one node that does
not, so the number of holders doubles each wave and the controller's egress is ``seeds`` tarballs whatever the
fleet's size.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError


def _names(value, what):
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError('mindie_image_tree: %s must be a list of inventory names, got %r' % (what, value))
    names = []
    for name in value:
        name = str(name)
        if name not in names:
            names.append(name)
    return names


def image_tree(needing, holders=None, seeds=1):
    """The plan for ``needing`` (nodes without the tarball, in inventory order) given ``holders`` (nodes with a
    verified copy): ``{'waves': N, 'nodes': {node: {'wave': w, 'source': node or None}}, 'seeds': [...]}``.

    ``source`` None is the controller (wave 0, only when there is no holder). In wave w >= 1 each holder of the
    waves before sends to at most one node, holders in the order they got the tarball, so a node never serves two
    copies at once and every receiver has exactly one source.
    """
    needing = _names(needing, 'needing')
    holders = [h for h in _names(holders or [], 'holders') if h not in needing]
    if isinstance(seeds, bool):
        raise AnsibleFilterError('mindie_image_tree: seeds must be an integer of at least 1, got %r' % (seeds,))
    try:
        seeds = int(seeds)
    except (TypeError, ValueError):
        raise AnsibleFilterError('mindie_image_tree: seeds must be an integer of at least 1, got %r' % (seeds,))
    if seeds < 1:
        raise AnsibleFilterError('mindie_image_tree: seeds must be an integer of at least 1, got %d' % seeds)
    nodes = {}
    waiting = list(needing)
    sources = list(holders)
    chosen_seeds = []
    if not sources and waiting:
        chosen_seeds, waiting = waiting[:seeds], waiting[seeds:]
        for node in chosen_seeds:
            nodes[node] = {'wave': 0, 'source': None}
        sources = list(chosen_seeds)
    wave = 0
    while waiting:
        wave += 1
        receivers, waiting = waiting[:len(sources)], waiting[len(sources):]
        for source, node in zip(sources, receivers):
            nodes[node] = {'wave': wave, 'source': source}
        sources = sources + receivers
    return {'waves': wave + 1 if nodes else 0, 'nodes': nodes, 'seeds': chosen_seeds, 'holders': holders}


class FilterModule(object):
    def filters(self):
        return {'mindie_image_tree': image_tree}
