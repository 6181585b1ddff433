# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PNG line charts of the serving benchmark (controller side), drawn with Pillow.

``line_chart`` draws series of (concurrency, value) points: the concurrencies spaced evenly on the x axis (they
are a sweep such as 1, 4, 16, 32), a linear y axis from 0 with rounded ticks, a legend, a title and axis labels.
``charts`` gives the report's charts from benchmark.json's results. Pillow is the one dependency; ``available()``
says whether it can be imported, so a controller without it writes the report without plots and says why.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import math

try:
    from PIL import Image, ImageDraw, ImageFont
    HAS_PIL = True
    PIL_ERROR = None
except ImportError as _exc:     # pragma: no cover - depends on the controller
    HAS_PIL = False
    PIL_ERROR = str(_exc)

WIDTH, HEIGHT = 960, 600
MARGIN = {'left': 90, 'right': 250, 'top': 60, 'bottom': 70}
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
DASHES = [None, (10, 6), (3, 4)]


def available():
    """(True, None) when Pillow can be imported, else (False, why)."""
    return HAS_PIL, PIL_ERROR


def nice_ticks(top, count=5):
    """Round tick values from 0 to at least ``top``."""
    if not top or top <= 0:
        return [0, 1]
    raw = top / float(count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label(value):
    return ('%d' % value) if float(value).is_integer() else ('%g' % value)


def _font():
    try:
        return ImageFont.load_default(size=14)
    except TypeError:           # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def line_chart(title, x_label, y_label, series):
    """PNG bytes of a line chart. ``series``: [(name, [(x, y), ...])]; points whose y is None are left out."""
    if not HAS_PIL:
        raise RuntimeError('Pillow is not importable on the controller: %s' % PIL_ERROR)
    image = Image.new('RGB', (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = _font()
    xs = sorted(set(x for _name, points in series for x, y in points if y is not None))
    ys = [y for _name, points in series for x, y in points if y is not None]
    ticks = nice_ticks(max(ys) if ys else 0)
    left, top = MARGIN['left'], MARGIN['top']
    right, bottom = WIDTH - MARGIN['right'], HEIGHT - MARGIN['bottom']

    def px(x):
        if len(xs) < 2:
            return (left + right) / 2.0
        return left + (right - left) * xs.index(x) / float(len(xs) - 1)

    def py(y):
        return bottom - (bottom - top) * y / float(ticks[-1] or 1)

    draw.text((left, 20), title, fill=(0, 0, 0), font=font)
    for tick in ticks:
        y = py(tick)
        draw.line([(left, y), (right, y)], fill=(225, 225, 225))
        text = _label(tick)
        draw.text((left - 10 - draw.textlength(text, font=font), y - 7), text, fill=(60, 60, 60), font=font)
    for x in xs:
        text = _label(x)
        draw.line([(px(x), bottom), (px(x), bottom + 5)], fill=(0, 0, 0))
        draw.text((px(x) - draw.textlength(text, font=font) / 2, bottom + 8), text, fill=(60, 60, 60), font=font)
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=(0, 0, 0), width=2)
    draw.text(((left + right) / 2 - draw.textlength(x_label, font=font) / 2, bottom + 32), x_label,
              fill=(0, 0, 0), font=font)
    draw.text((10, top - 30), y_label, fill=(0, 0, 0), font=font)
    for index, (name, points) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        dash = DASHES[(index // len(COLOURS)) % len(DASHES)]
        shown = sorted((x, y) for x, y in points if y is not None)
        coords = [(px(x), py(y)) for x, y in shown]
        for start, end in zip(coords, coords[1:]):
            _segment(draw, start, end, colour, dash)
        for cx, cy in coords:
            draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=colour)
        legend_y = top + 20 * index
        draw.line([(right + 20, legend_y + 8), (right + 50, legend_y + 8)], fill=colour, width=3)
        draw.text((right + 58, legend_y), name[:26], fill=(0, 0, 0), font=font)
    out = io.BytesIO()
    image.save(out, format='PNG')
    return out.getvalue()


def _segment(draw, start, end, colour, dash):
    if dash is None:
        draw.line([start, end], fill=colour, width=3)
        return
    length = math.hypot(end[0] - start[0], end[1] - start[1]) or 1.0
    on, off = dash
    pos = 0.0
    while pos < length:
        stop = min(pos + on, length)
        a = (start[0] + (end[0] - start[0]) * pos / length, start[1] + (end[1] - start[1]) * pos / length)
        b = (start[0] + (end[0] - start[0]) * stop / length, start[1] + (end[1] - start[1]) * stop / length)
        draw.line([a, b], fill=colour, width=3)
        pos = stop + off


def charts(results):
    """{file name: PNG bytes} of the report: throughput, TTFT and TPOT against concurrency for every target, and
    per node the TTFT/TPOT percentiles of its instances."""
    by_target = {}
    for entry in results:
        by_target.setdefault(entry['target'], []).append(entry)

    def series(key, sub=None):
        out = []
        for target in sorted(by_target):
            points = []
            for entry in by_target[target]:
                value = entry.get(key)
                points.append((entry['concurrency'], value.get(sub) if sub else value))
            out.append((target_name(by_target[target][0]), points))
        return out

    files = {
        'throughput.png': line_chart('Output tokens/s against concurrency', 'concurrency (requests in flight)',
                                     'output tokens/s', series('output_tokens_per_s')),
        'ttft.png': line_chart('TTFT p50 (solid) and p99 against concurrency', 'concurrency', 'TTFT (ms)',
                               _pairs(series('ttft_ms', 'p50'), series('ttft_ms', 'p99'))),
        'tpot.png': line_chart('TPOT p50 and p99 against concurrency', 'concurrency', 'TPOT (ms)',
                               _pairs(series('tpot_ms', 'p50'), series('tpot_ms', 'p99'))),
    }
    nodes = {}
    for entry in results:
        if entry.get('kind') == 'instance' and entry.get('node'):
            nodes.setdefault(entry['node'], []).append(entry)
    for node in sorted(nodes):
        lines = []
        for instance in sorted(set(e['instance'] for e in nodes[node])):
            entries = [e for e in nodes[node] if e['instance'] == instance]
            short = instance.split('/', 1)[-1]
            for key, name in (('ttft_ms', 'TTFT'), ('tpot_ms', 'TPOT')):
                for pct in ('p50', 'p90', 'p99'):
                    lines.append(('%s %s %s' % (short, name, pct), [(e['concurrency'], e[key][pct]) for e in entries]))
        files['node-%s.png' % safe_name(node)] = line_chart(
            'Node %s: TTFT and TPOT percentiles against concurrency' % node, 'concurrency', 'ms', lines)
    return files


def _pairs(first, second):
    """Series for p50 and p99 of each target, p50 first (same colour order)."""
    out = []
    for (name, points), (dummy, other) in zip(first, second):
        out.append((name + ' p50', points))
        out.append((name + ' p99', other))
    return out


def target_name(entry):
    """How a target is named in a legend: node/instance, or the balancer."""
    if entry.get('kind') == 'balancer':
        return 'balancer'
    return entry.get('instance') or entry['target']


def safe_name(text):
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in str(text)) or 'node'
