# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the MindIE HTTP API: request bodies, image URLs, answers, Server-Sent Events."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.ascend.mindie.plugins.module_utils import mindie_api as api

# The request bodies of the deployment guide, section 6.3, verbatim (curl -d '...').
GUIDE_GENERATE = u'''{
  "prompt": [
    {
      "type": "image_url",
      "image_url": "file:///data/test_images/sample.jpg"
    },
    {
      "type": "text",
      "text": "Explain the details in the image."
    }
  ],
  "max_tokens": 512,
  "stream": false,
  "do_sample": true,
  "repetition_penalty": 1.00,
  "temperature": 0.01,
  "top_p": 0.001,
  "top_k": 1,
  "model": "qwen2_vl"
}'''

GUIDE_CHAT = u'''{
  "model": "qwen2_vl",
  "messages": [
    {
      "role": "user",
      "content": [
        {
          "type": "image_url",
          "image_url": {
            "url": "file:///data/test_images/sample.jpg"
          }
        },
        {
          "type": "text",
          "text": "Explain the details in the image."
        }
      ]
    }
  ],
  "max_tokens": 512,
  "stream": false,
  "do_sample": true,
  "repetition_penalty": 1.00,
  "temperature": 0.01,
  "top_p": 0.001,
  "top_k": 1
}'''

GUIDE_STREAM = u'''{
  "model": "qwen2_vl",
  "messages": [
    {
      "role": "user",
      "content": [
        {
          "type": "text",
          "text": "描述这张图片的内容"
        },
        {
          "type": "image_url",
          "image_url": {
            "url": "file:///data/test_images/sample.jpg"
          }
        }
      ]
    }
  ],
  "max_tokens": 512,
  "stream": true,
  "temperature": 0.7
}'''

IMG = 'file:///data/test_images/sample.jpg'


# ---------------------------------------------------------------------- bodies

@pytest.mark.parametrize('builder,guide,prompt', [
    (api.generate_body, GUIDE_GENERATE, 'Explain the details in the image.'),
    (api.chat_body, GUIDE_CHAT, 'Explain the details in the image.'),
    (api.stream_body, GUIDE_STREAM, u'描述这张图片的内容'),
])
def test_bodies_are_the_guides(builder, guide, prompt):
    body = builder('qwen2_vl', IMG, prompt, 512)
    assert body == json.loads(guide)
    # same key order as the guide, and the types survive a JSON round trip (1.00 is a float, true a bool)
    assert list(body) == list(json.loads(guide))
    assert json.loads(json.dumps(body)) == json.loads(guide)


def test_bodies_take_the_options():
    body = api.chat_body('m1', 'file:///x.png', 'Say hi', 7)
    assert body['model'] == 'm1' and body['max_tokens'] == 7
    assert body['messages'][0]['content'][0] == {'type': 'image_url', 'image_url': {'url': 'file:///x.png'}}
    assert body['messages'][0]['content'][1] == {'type': 'text', 'text': 'Say hi'}
    body = api.generate_body('m1', 'file:///x.png', 'Say hi', 7)
    assert body['prompt'] == [{'type': 'image_url', 'image_url': 'file:///x.png'}, {'type': 'text', 'text': 'Say hi'}]
    assert body['model'] == 'm1' and body['max_tokens'] == 7 and body['stream'] is False
    body = api.stream_body('m1', 'file:///x.png', 'Describe', 9)
    assert body['stream'] is True and body['max_tokens'] == 9
    assert body['messages'][0]['content'][0] == {'type': 'text', 'text': 'Describe'}


def test_request_body_per_test():
    args = ('qwen2_vl', IMG, 'chat prompt', 'stream prompt', 64)
    assert api.request_body('health', *args) is None
    assert api.request_body('ready', *args) is None
    assert api.request_body('chat', *args)['messages'][0]['content'][1]['text'] == 'chat prompt'
    assert api.request_body('chat', *args)['stream'] is False
    assert api.request_body('generate', *args)['prompt'][1]['text'] == 'chat prompt'
    stream = api.request_body('stream', *args)
    assert stream['stream'] is True and stream['messages'][0]['content'][0]['text'] == 'stream prompt'


# ---------------------------------------------------------------------- URLs

@pytest.mark.parametrize('image,expected', [
    ('/data/test_images/sample.jpg', 'file:///data/test_images/sample.jpg'),
    ('  /data/a b.png ', 'file:///data/a b.png'),
    ('file:///data/test_images/sample.jpg', 'file:///data/test_images/sample.jpg'),
    ('http://images.local/a.jpg', 'http://images.local/a.jpg'),
    ('HTTPS://images.local/a.jpg', 'HTTPS://images.local/a.jpg'),
    ('data:image/png;base64,iVBORw0KGgo=', 'data:image/png;base64,iVBORw0KGgo='),
])
def test_image_url(image, expected):
    assert api.image_url(image) == expected


@pytest.mark.parametrize('image', ['sample.jpg', './sample.jpg', 'ftp://x/a.jpg', '', None])
def test_image_url_refuses(image):
    with pytest.raises(ValueError, match='absolute path'):
        api.image_url(image)


def test_split_base_url():
    assert api.split_base_url('http://10.0.0.5:1040') == ('http', '10.0.0.5', 1040, '')
    assert api.split_base_url('https://mindie.local/') == ('https', 'mindie.local', 443, '')
    assert api.split_base_url('http://h/proxy/mindie/') == ('http', 'h', 80, '/proxy/mindie')
    assert api.split_base_url('http://[::1]:1041') == ('http', '::1', 1041, '')
    for bad in ('10.0.0.5:1040', 'ftp://h:1', 'http://:1040', 'http://h:99999', 'http://h:1/?a=1'):
        with pytest.raises(ValueError):
            api.split_base_url(bad)
    assert api.join_url('http://h:1/', '/health') == 'http://h:1/health'


# ---------------------------------------------------------------------- answers

def test_answers_and_usage():
    chat = {'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': 'The image is a cat.'}}],
            'usage': {'prompt_tokens': 2671, 'completion_tokens': 57, 'total_tokens': 2728}}
    assert api.chat_answer(chat) == 'The image is a cat.'
    assert api.usage_tokens(chat) == (2671, 57)
    assert api.chat_answer({'choices': []}) == ''
    assert api.chat_answer({'choices': [{'message': {'content': None}}]}) == ''
    assert api.chat_answer(None) == ''
    assert api.usage_tokens({'text': ['x']}) == (None, None)
    assert api.usage_tokens({'usage': {'prompt_tokens': True}}) == (None, None)
    # MindIE's (and the simulator's) /generate answer
    assert api.generate_answer({'text': ['The image is a 1902x1080 JPEG picture.']}) == \
        'The image is a 1902x1080 JPEG picture.'
    assert api.generate_answer({'text': 'plain'}) == 'plain'
    assert api.generate_answer({'generated_text': 'tgi'}) == 'tgi'
    assert api.generate_answer({'choices': [{'text': 'openai'}]}) == 'openai'
    assert api.generate_answer({'text': []}) == ''
    assert api.generate_answer({'error': 'x'}) == ''


def test_http_error_detail():
    assert api.http_error(400, b'{"error": "image file:///x.jpg cannot be read: No such file or directory", '
                               b'"error_type": "Input Validation Error"}') == \
        'HTTP 400: Input Validation Error: image file:///x.jpg cannot be read: No such file or directory'
    assert api.http_error(503, b'{"status": "warmup"}') == 'HTTP 503: warmup'
    assert api.http_error(500, b'<html>\n  Internal   error\n</html>') == 'HTTP 500: <html> Internal error </html>'
    assert api.http_error(502, b'') == 'HTTP 502'
    assert len(api.http_error(500, b'x' * 1000)) < 220


# ---------------------------------------------------------------------- Server-Sent Events

def chunk(text, **extra):
    event = {'id': 'c1', 'object': 'chat.completion.chunk', 'choices': [{'index': 0, 'delta': {'content': text}}]}
    event.update(extra)
    return 'data: %s\n\n' % json.dumps(event, ensure_ascii=False)


STREAM = (chunk(u'图片') + chunk(u'里是一只猫。') + ': keep-alive comment\n\n' +
          'data: {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}}\n\n' +
          'data: [DONE]\n\n').encode('utf-8')


def events_of(pieces):
    parser = api.SSEParser()
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.close()


def test_sse_whole_stream():
    events = events_of([STREAM])
    assert len(events) == 4 and events[-1] == '[DONE]'
    parsed = [api.stream_event(e) for e in events]
    assert [p['content'] for p in parsed] == [u'图片', u'里是一只猫。', '', '']
    assert parsed[2]['usage'] == {'prompt_tokens': 12, 'completion_tokens': 2}
    assert parsed[3]['done'] and not parsed[0]['done']


@pytest.mark.parametrize('size', [1, 2, 3, 5, 7, 64])
def test_sse_split_across_reads(size):
    # every split point, also inside "data:", inside "\n\n" and inside a 3-byte UTF-8 character
    pieces = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
    assert events_of(pieces) == events_of([STREAM])


def test_sse_events_complete_only_at_blank_line():
    parser = api.SSEParser()
    assert parser.feed(b'data: {"a"') == []
    assert parser.feed(b': 1}\n') == []
    assert parser.feed(b'\n') == ['{"a": 1}']


def test_sse_crlf_no_space_multiline_and_other_fields():
    raw = b'event: message\r\nid: 3\r\ndata:{"x":\r\ndata: 1}\r\n\r\nretry: 10\r\n\r\ndata:[DONE]\r\n\r\n'
    assert events_of([raw[i:i + 1] for i in range(len(raw))]) == ['{"x":\n1}', '[DONE]']


def test_sse_close_flushes_unterminated_event():
    parser = api.SSEParser()
    assert parser.feed(b'data: one\n\ndata: two') == ['one']
    assert parser.close() == ['two']
    assert parser.close() == []


def test_stream_event_kinds():
    assert api.stream_event('[DONE]')['done'] is True
    assert api.stream_event(' [DONE] ')['done'] is True
    ev = api.stream_event('{"choices": [{"delta": {"role": "assistant", "content": ""}}]}')
    assert ev['content'] == '' and not ev['error'] and not ev['done']
    assert api.stream_event('{"choices": [{"delta": {"content": "a"}}]}')['content'] == 'a'
    assert api.stream_event('{"choices": [{"text": "b"}]}')['content'] == 'b'
    assert api.stream_event('{"text": ["c"]}')['content'] == 'c'
    assert api.stream_event('{"error": "Out of memory", "error_type": "x"}')['error'] == 'stream error: x: Out of memory'
    assert 'not a JSON object' in api.stream_event('hello')['error']


def test_failure_message():
    urls = {'business': 'http://b:1040', 'management': 'http://m:1041'}
    results = [{'name': 'health', 'ok': True}, {'name': 'chat', 'ok': False, 'error': 'HTTP 500: boom'},
               {'name': 'stream', 'ok': False, 'error': 'only 1 chunk'}]
    assert api.failure_message(results, urls) == \
        'MindIE smoke tests failed at http://b:1040: chat: HTTP 500: boom; stream: only 1 chunk'
    results[0] = {'name': 'ready', 'ok': False, 'error': 'HTTP 503: warmup'}
    assert api.failure_message(results, urls) == ('MindIE smoke tests failed at http://b:1040 and http://m:1041: '
                                                  'ready: HTTP 503: warmup; chat: HTTP 500: boom; '
                                                  'stream: only 1 chunk')


# ---------------------------------------------------------------------- issue 11: real 3.0 shapes

def test_http_error_422_with_the_real_error_type():
    raw = b'{"error":"Messages must be a non-empty list","error_type":"Input Validation Error"}'
    assert api.http_error(422, raw) == 'HTTP 422: Input Validation Error: Messages must be a non-empty list'
    raw = b'{"error":"Environment variable MIES_SERVICE_MONITOR_MODE is not set.","error_type":"Incomplete Generation"}'
    assert api.http_error(500, raw) == ('HTTP 500: Incomplete Generation: Environment variable MIES_SERVICE_MONITOR_MODE '
                                        'is not set.')
    # the TGI validation body spells Error with a capital
    raw = b'{"Error": "`inputs` or `prompt` must be necessary", "error_type": "validation"}'
    assert api.http_error(422, raw) == 'HTTP 422: validation: `inputs` or `prompt` must be necessary'


def test_generate_answer_strips_the_echoed_prompt():
    body = api.generate_body('qwen2_vl', 'file:///a.jpg', 'Explain the details in the image.', 8)
    prompt = api.prompt_text(body['prompt'])
    assert prompt == 'Explain the details in the image.'
    payload = {'text': ['Explain the details in the image. The image is a 640x480 PNG picture.']}
    assert api.generate_answer(payload, prompt) == 'The image is a 640x480 PNG picture.'
    # only the echo: nothing generated
    assert api.generate_answer({'text': ['Explain the details in the image. ']}, prompt) == ''
    assert api.generate_answer({'text': ['Explain the details in the image.']}, prompt) == ''
    # an answer that does not start with the echo is kept whole; no prompt keeps the old behaviour
    assert api.generate_answer({'text': ['A cat.']}, prompt) == 'A cat.'
    assert api.generate_answer({'text': ['Explain the details in the image. x']}) == 'Explain the details in the image. x'
    assert api.prompt_text('plain prompt') == 'plain prompt'
    assert api.prompt_text([{'type': 'image_url', 'image_url': 'x'}]) == ''
    assert api.prompt_text(None) is None


def test_nul_json_parser_split_anywhere():
    raw = b'{"text": ["The "]}\0{"text": ["\xe5\x9b\xbe"]}\0{"text": [""]}\0'
    for size in (1, 2, 3, 7, len(raw)):
        parser = api.NulJSONParser()
        items = []
        for i in range(0, len(raw), size):
            items += parser.feed(raw[i:i + size])
        items += parser.close()
        assert [api.generate_answer(api.decode_json(i)) for i in items] == ['The ', u'\u56fe', '']
    parser = api.NulJSONParser()
    assert parser.feed(b'{"text": ["x"]}') == [] and parser.close() == ['{"text": ["x"]}']


def test_chat_stream_30_shape():
    """First chunk: the role with an empty content; usage in the last content chunk; then [DONE]."""
    first = api.stream_event('{"id":"1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}')
    assert first['content'] == '' and first['usage'] is None and not first['error']
    last = api.stream_event('{"id":"1","choices":[{"index":0,"delta":{"content":"."},"finish_reason":"length"}],'
                            '"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}')
    assert last['content'] == '.' and api.usage_tokens({'usage': last['usage']}) == (12, 4)


@pytest.mark.parametrize('ready,live,state', [(200, None, 'ready'), (503, 200, 'busy'), (503, 503, 'unhealthy'),
                                              (503, None, 'unhealthy'), (500, 500, 'unhealthy'),
                                              (None, None, 'unreachable')])
def test_service_state(ready, live, state):
    assert api.service_state(ready, live) == state
    assert (state in api.UP_STATES) == (state in ('ready', 'busy'))


def test_both_stream_parsers_share_one_buffering():
    """SSE and the NUL stream cut a byte stream the same way (one base class), each at its own delimiter."""
    assert issubclass(api.SSEParser, api._DelimitedStreamParser)
    assert issubclass(api.NulJSONParser, api._DelimitedStreamParser)
    raw = u'data: {"a": "\u56fe"}\r\n\r\ndata: 1\ndata: 2\n\n: comment\ndata: tail'.encode('utf-8')
    for size in (1, 2, 5, len(raw)):
        parser = api.SSEParser()
        events = []
        for i in range(0, len(raw), size):
            events += parser.feed(raw[i:i + size])
        assert events == [u'{"a": "\u56fe"}', '1\n2']
        assert parser.close() == ['tail'] and parser.close() == []
    nul = api.NulJSONParser()
    assert nul.feed(b' \n\0{"x": 1}\0  ') == ['{"x": 1}'] and nul.close() == []
