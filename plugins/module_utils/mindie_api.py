# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ascend.mindie contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MindIE Service HTTP API, as pure functions: request bodies, answers, Server-Sent Events.

The request bodies are the deployment guide's (section 6.3): the vLLM style ``/generate``
(6.3.1), the OpenAI style ``/v1/chat/completions`` (6.3.2) and its streaming form (6.3.3),
with the model, image, prompt and ``max_tokens`` filled in. Nothing here does I/O.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from urllib.parse import urlsplit

ANSWER_LIMIT = 300
DETAIL_LIMIT = 200
PASSED_SCHEMES = ('file://', 'http://', 'https://', 'data:')

# Management port endpoints and business port endpoints per test. ``models`` (GET /v1/models
# on the business port) is the check a client can make when the management port listens on
# loopback only; it is not in the default set.
TESTS = ('health', 'ready', 'chat', 'generate', 'stream', 'models', 'generate_stream')
DEFAULT_TESTS = ('health', 'ready', 'chat', 'generate', 'stream')
TEST_ENDPOINTS = {
    'health': ('management', 'GET', '/health'),
    'ready': ('management', 'GET', '/v2/health/ready'),
    'chat': ('business', 'POST', '/v1/chat/completions'),
    'generate': ('business', 'POST', '/generate'),
    'stream': ('business', 'POST', '/v1/chat/completions'),
    'models': ('business', 'GET', '/v1/models'),
    'generate_stream': ('business', 'POST', '/generate'),
}
LIVE_PATH = '/v2/health/live'

# What the management port's health endpoints say together (MindIE 3.0 health_checker.cpp): ready 200 is
# ``ready``; ready 503 while live answers 200 is ``busy`` (loaded and serving, every batch slot taken, only with
# ServerConfig.HealthCheckConfig.npuUsageThreshold > 0): busy is up, not down.
SERVICE_STATES = ('ready', 'busy', 'unhealthy', 'unreachable')
UP_STATES = ('ready', 'busy')


# ---------------------------------------------------------------------- URLs

def image_url(image):
    """The image reference as MindIE expects it in a request.

    A plain absolute path becomes ``file://<path>``; ``file://``, ``http(s)://`` and ``data:`` URLs
    are passed as they are. Raises ValueError for anything else (a relative path, another scheme).
    """
    value = (image or '').strip()
    if value.lower().startswith(PASSED_SCHEMES):
        return value
    if value.startswith('/'):
        return 'file://' + value
    raise ValueError('image must be an absolute path (as the MindIE daemon sees it) or a file://, http://, '
                     'https:// or data: URL, got %r' % (image,))


def split_base_url(url):
    """(scheme, host, port, base path) of an http(s) base URL; raises ValueError when it is not one."""
    parts = urlsplit((url or '').strip())
    scheme = parts.scheme.lower()
    if scheme not in ('http', 'https'):
        raise ValueError('%r is not an http:// or https:// URL' % (url,))
    try:
        port = parts.port
    except ValueError:
        raise ValueError('%r has an invalid port' % (url,))
    if not parts.hostname:
        raise ValueError('%r has no host' % (url,))
    if parts.query or parts.fragment:
        raise ValueError('%r must not have a query or a fragment' % (url,))
    if port is None:
        port = 443 if scheme == 'https' else 80
    return scheme, parts.hostname, port, parts.path.rstrip('/')


def join_url(base_url, path):
    return base_url.rstrip('/') + path


# ---------------------------------------------------------------------- request bodies (guide 6.3)

# The sampling of the guide's 6.3.1 and 6.3.2 requests (near-greedy, so that answers are repeatable).
GUIDE_SAMPLING = {'stream': False, 'do_sample': True, 'repetition_penalty': 1.0, 'temperature': 0.01, 'top_p': 0.001,
                  'top_k': 1}


def generate_body(model, image, prompt, max_tokens):
    """Body of the guide's 6.3.1 ``POST /generate`` request."""
    body = {'prompt': [{'type': 'image_url', 'image_url': image}, {'type': 'text', 'text': prompt}],
            'max_tokens': max_tokens}
    body.update(GUIDE_SAMPLING)
    body['model'] = model           # last, as in the guide
    return body


def chat_body(model, image, prompt, max_tokens):
    """Body of the guide's 6.3.2 ``POST /v1/chat/completions`` request."""
    content = [{'type': 'image_url', 'image_url': {'url': image}}, {'type': 'text', 'text': prompt}]
    body = {'model': model, 'messages': [{'role': 'user', 'content': content}], 'max_tokens': max_tokens}
    body.update(GUIDE_SAMPLING)
    return body


def stream_body(model, image, prompt, max_tokens):
    """Body of the guide's 6.3.3 streaming ``POST /v1/chat/completions`` request."""
    return {
        'model': model,
        'messages': [{
            'role': 'user',
            'content': [
                {'type': 'text', 'text': prompt},
                {'type': 'image_url', 'image_url': {'url': image}},
            ],
        }],
        'max_tokens': max_tokens,
        'stream': True,
        'temperature': 0.7,
    }


def request_body(test, model, image, prompt, stream_prompt, max_tokens):
    """The JSON body for a business test, None for the management tests."""
    if test == 'chat':
        return chat_body(model, image, prompt, max_tokens)
    if test == 'generate':
        return generate_body(model, image, prompt, max_tokens)
    if test == 'generate_stream':
        body = generate_body(model, image, prompt, max_tokens)
        body['stream'] = True
        return body
    if test == 'stream':
        return stream_body(model, image, stream_prompt, max_tokens)
    return None


# ---------------------------------------------------------------------- answers

def decode_json(raw):
    """Parse a JSON body (bytes or text); None when it is not JSON."""
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'replace')
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _first_choice(payload):
    if isinstance(payload, dict):
        choices = payload.get('choices')
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            return choices[0]
    return None


def _text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # a content given as parts
        return ''.join(p.get('text', '') if isinstance(p, dict) else (p if isinstance(p, str) else '')
                       for p in value)
    return ''


def chat_answer(payload):
    """``choices[0].message.content`` of a chat completion, '' when absent."""
    choice = _first_choice(payload)
    message = choice.get('message') if choice else None
    return _text(message.get('content')) if isinstance(message, dict) else ''


def prompt_text(prompt):
    """The text MindIE echoes before a ``/generate`` answer: the first ``text`` part of a multimodal prompt.

    As ``SingleReqVllmInferInterface::EncodeVllmResponse`` does: a list of parts gives the first part of type
    ``text``, a string gives itself; None for anything else.
    """
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        for part in prompt:
            if isinstance(part, dict) and part.get('type') == 'text' and isinstance(part.get('text'), str):
                return part['text']
        return ''
    return None


def strip_echo(text, prompt):
    """``text`` without the echoed ``prompt + ' '`` MindIE puts in front of a ``/generate`` answer."""
    if prompt is None or not isinstance(text, str):
        return text
    prefix = prompt + ' '
    if text.startswith(prefix):
        return text[len(prefix):]
    if text == prompt:
        return ''
    return text


def generate_answer(payload, prompt=None):
    """The generated text of a ``/generate`` answer, '' when absent.

    MindIE's vLLM style answer is ``{"text": ["<prompt text> <generation>"]}``: with ``prompt`` (the prompt
    text of the request, see ``prompt_text``) the echoed prompt and its space are removed from each entry, so
    that only what the model generated remains. A plain string, the TGI style ``generated_text`` and an
    OpenAI style ``choices[0].text`` are also understood.
    """
    if not isinstance(payload, dict):
        return ''
    text = payload.get('text')
    if isinstance(text, list):
        return ''.join(strip_echo(t, prompt) for t in text if isinstance(t, str))
    if isinstance(text, str):
        return strip_echo(text, prompt)
    if isinstance(payload.get('generated_text'), str):
        return payload['generated_text']
    choice = _first_choice(payload)
    if choice:
        if isinstance(choice.get('text'), str):
            return choice['text']
        if isinstance(choice.get('message'), dict):
            return _text(choice['message'].get('content'))
    return ''


def served_models(payload):
    """The model ids of an OpenAI style ``GET /v1/models`` answer (``data[].id``); None when it is not one."""
    data = payload.get('data') if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return None
    return [str(item['id']) for item in data if isinstance(item, dict) and item.get('id') is not None]


def usage_tokens(payload):
    """(prompt_tokens, completion_tokens) from ``usage``; None for what is absent."""
    usage = payload.get('usage') if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return None, None

    def count(key):
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return count('prompt_tokens'), count('completion_tokens')


def error_detail(raw):
    """A short description of an error body.

    MindIE answers ``{"error": "<text>", "error_type": "<type>"}`` (``Input Validation Error`` for a 422,
    ``Incomplete Generation`` for a 500, ...): that gives ``<type>: <text>``. Otherwise its
    ``error``/``Error``/``message`` field, else its first characters.
    """
    payload = decode_json(raw)
    if isinstance(payload, dict):
        kind = payload.get('error_type')
        for key in ('error', 'Error', 'message', 'detail', 'status'):
            value = payload.get(key)
            if isinstance(value, dict):
                value = value.get('message') or json.dumps(value, sort_keys=True)
            if value:
                text = str(value)
                if isinstance(kind, str) and kind and not text.startswith(kind):
                    text = '%s: %s' % (kind, text)
                return text[:DETAIL_LIMIT]
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'replace')
    return ' '.join((raw or '').split())[:DETAIL_LIMIT]


def http_error(status, raw):
    detail = error_detail(raw)
    return 'HTTP %s: %s' % (status, detail) if detail else 'HTTP %s' % status


def short(text, limit=ANSWER_LIMIT):
    return (text or '')[:limit]


# ---------------------------------------------------------------------- Server-Sent Events

class _DelimitedStreamParser(object):
    """Buffers a byte stream and cuts it at ``DELIMITER``: feed() it bytes as they arrive, close() at its end.

    A read may end anywhere, also inside a multi-byte UTF-8 character: only whole pieces are decoded.
    Subclasses turn each piece into an item (``_piece``: the item or None) and may add one at the end (``_end``).
    """

    DELIMITER = b'\n'

    def __init__(self):
        self._buffer = b''

    def feed(self, raw):
        """Add bytes; return every item completed by them, in order."""
        self._buffer += raw
        items = []
        while True:
            end = self._buffer.find(self.DELIMITER)
            if end < 0:
                break
            piece, self._buffer = self._buffer[:end], self._buffer[end + len(self.DELIMITER):]
            item = self._piece(piece)
            if item is not None:
                items.append(item)
        return items

    def close(self):
        """End of the stream: the items of what was not ended by the delimiter, if any."""
        piece, self._buffer = self._buffer, b''
        items = [self._piece(piece)] if piece else []
        items.append(self._end())
        return [item for item in items if item is not None]

    def _piece(self, raw):
        """Abstract: the item of one delimited piece, or None (SSEParser and NulJSONParser define it)."""
        raise NotImplementedError('%s must define _piece()' % type(self).__name__)

    def _end(self):
        return None


class SSEParser(_DelimitedStreamParser):
    """Incremental Server-Sent Events parser: the items are the events' data.

    Events end at a blank line; ``data:`` lines of one event are joined with newlines, one space
    after the colon is dropped, comments (``:``) and other fields are ignored. Lines may end with
    LF or CRLF.
    """

    def __init__(self):
        super(SSEParser, self).__init__()
        self._data = []

    def _end(self):
        return self._piece(b'')     # an event that was not followed by a blank line

    def _piece(self, raw):
        if raw.endswith(b'\r'):
            raw = raw[:-1]
        line = raw.decode('utf-8', 'replace')
        if not line:
            if not self._data:
                return None
            data, self._data = '\n'.join(self._data), []
            return data
        if line.startswith(':'):
            return None
        field, dummy, value = line.partition(':')
        if value.startswith(' '):
            value = value[1:]
        if field == 'data':
            self._data.append(value)
        return None


class NulJSONParser(_DelimitedStreamParser):
    """Incremental parser of MindIE's ``/generate`` stream: raw JSON objects, each ended by a NUL byte (not SSE).

    The items are the text of the objects; white space between objects is ignored.
    """

    DELIMITER = b'\0'

    def _piece(self, raw):
        return raw.decode('utf-8', 'replace') if raw.strip() else None


def stream_event(data):
    """What one streamed chat event carries.

    Returns a dict: ``done`` (the ``[DONE]`` marker), ``content`` (the delta's text, '' when it
    carries none), ``usage`` (dict or None) and ``error`` (str or None, for an error event or data
    that is not JSON).
    """
    event = {'done': False, 'content': '', 'usage': None, 'error': None}
    if data.strip() == '[DONE]':
        event['done'] = True
        return event
    payload = decode_json(data)
    if not isinstance(payload, dict):
        event['error'] = 'stream event is not a JSON object: %s' % ' '.join(data.split())[:DETAIL_LIMIT]
        return event
    if payload.get('error'):
        event['error'] = 'stream error: %s' % error_detail(data)
        return event
    if isinstance(payload.get('usage'), dict):
        event['usage'] = payload['usage']
    choice = _first_choice(payload)
    if choice:
        delta = choice.get('delta')
        if isinstance(delta, dict):
            event['content'] = _text(delta.get('content'))
        elif isinstance(choice.get('text'), str):
            event['content'] = choice['text']
    elif isinstance(payload.get('text'), list):
        event['content'] = ''.join(t for t in payload['text'] if isinstance(t, str))
    return event


def service_state(ready_status, live_status=None):
    """One of SERVICE_STATES from the HTTP statuses of ``/v2/health/ready`` and ``/v2/health/live``.

    ``None`` for a status means no answer (refused, timed out). Ready 200 is ``ready``; ready 503 with live
    200 is ``busy``; no answer from ready is ``unreachable``; anything else ``unhealthy``.
    """
    if ready_status == 200:
        return 'ready'
    if ready_status is None:
        return 'unreachable'
    if ready_status == 503 and live_status == 200:
        return 'busy'
    return 'unhealthy'


# ---------------------------------------------------------------------- summary

def failure_message(results, urls):
    """``MindIE smoke tests failed at <url>: name: error; ...`` for the failed results.

    ``urls`` maps ``business``/``management`` to the base URLs; the message names the base URL of
    every failed test, business first.
    """
    failed = [r for r in results if not r.get('ok')]
    kinds = []
    for result in failed:
        kind = TEST_ENDPOINTS.get(result['name'], ('business',))[0]
        if kind not in kinds:
            kinds.append(kind)
    where = ' and '.join(urls[k] for k in sorted(kinds) if k in urls)
    details = '; '.join('%s: %s' % (r['name'], r.get('error') or 'failed') for r in failed)
    return 'MindIE smoke tests failed at %s: %s' % (where, details)
