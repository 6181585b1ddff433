"""Token counting and deterministic answers of the simulated Qwen2-VL."""
import hashlib
import math
import re

from . import imageinfo

_TOKEN_RE = re.compile(r"[\u3000-\u9fff\uff00-\uffef]|[A-Za-z]+|\d|[^\sA-Za-z\d]")

_WORDS = (
    "scene shows colour light detail layout region object edge texture surface pattern shape "
    "background foreground centre corner left right upper lower area element frame contrast "
    "brightness shadow line curve structure composition balance tone gradient focus depth view "
    "perspective angle group cluster band stripe block field wide narrow soft sharp smooth "
    "uniform bright dark warm cool calm dense sparse regular visible clear distinct subtle "
    "arranged placed spread across along near beside behind within around between above below "
    "appears seems suggests indicates contains includes features displays presents reveals"
).split()
_LINKS = ("the", "a", "and", "with", "of", "in", "on", "that", "which", "its")

# Qwen2-VL image processor defaults (preprocessor_config.json).
PATCH_FACTOR = 28
MIN_PIXELS = 56 * 56
MAX_PIXELS = 28 * 28 * 16384


def count_text_tokens(text):
    """Plausible BPE-like count: one token per CJK char/digit/punctuation, ~1 per 6 letters."""
    count = 0
    for match in _TOKEN_RE.finditer(text or ""):
        tok = match.group()
        count += 1 + (len(tok) - 1) // 6 if tok.isalpha() and tok.isascii() else 1
    return count


def smart_resize(width, height, factor=PATCH_FACTOR, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS):
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def image_tokens(width, height):
    """Qwen2-VL: one token per 28x28 area after resizing, plus vision start/end tokens."""
    w_bar, h_bar = smart_resize(width, height)
    return (w_bar // PATCH_FACTOR) * (h_bar // PATCH_FACTOR) + 2


VIDEO_TOKENS = 1200


def first_sentence(images):
    if not images:
        return None
    parts = []
    ordinals = ("first", "second", "third", "fourth", "fifth")
    for idx, img in enumerate(images):
        if img.get("format") == "VIDEO":
            what = "a video clip"
        else:
            what = "a %dx%d %s picture" % (img["width"], img["height"], img["format"])
        if len(images) == 1:
            parts.append("The image is %s." % what)
        else:
            label = ordinals[idx] if idx < len(ordinals) else "next"
            parts.append("The %s image is %s." % (label, what))
    return " ".join(parts)


def _stream(seed):
    counter = 0
    while True:
        digest = hashlib.sha256(("%s:%d" % (seed, counter)).encode("utf-8")).digest()
        counter += 1
        for i in range(0, len(digest), 2):
            yield int.from_bytes(digest[i:i + 2], "big")


def answer_key(text_parts, images):
    ident = "|".join("%dx%d:%s" % (i.get("width", 0), i.get("height", 0), i.get("format")) for i in images)
    return hashlib.sha256(("\x1f".join(text_parts) + "\x1e" + ident).encode("utf-8")).hexdigest()


def natural_length(key):
    """Deterministic EOS position: 40..120 tokens."""
    return 40 + int(key[:8], 16) % 81


def answer_tokens(key, images, limit=None, ignore_eos=False):
    """Return (tokens, finish_reason). tokens are strings; joining them gives the answer text."""
    head = first_sentence(images) or "Here is a short answer to your question."
    tokens = []
    for i, word in enumerate(head.split(" ")):
        tokens.append(word if i == 0 else " " + word)
    natural = max(natural_length(key), len(tokens) + 5)
    if ignore_eos and limit is not None:
        target, finish = limit, "length"
    elif limit is not None and limit < natural:
        target, finish = limit, "length"
    else:
        target, finish = natural, "stop"
    numbers = _stream(key)
    sentence_len = 0
    capital = True
    while len(tokens) < target:
        n = next(numbers)
        if capital:
            word = _WORDS[n % len(_WORDS)].capitalize()
            capital = False
        elif sentence_len % 3 == 1:
            word = _LINKS[n % len(_LINKS)]
        else:
            word = _WORDS[n % len(_WORDS)]
        sentence_len += 1
        remaining = natural - len(tokens)
        if sentence_len >= 6 + n % 9 or remaining == 1:
            word += "."
            sentence_len = 0
            capital = True
        tokens.append(" " + word)
    tokens = tokens[:target]
    return tokens, finish


def token_id(token):
    return int(hashlib.md5(token.encode("utf-8")).hexdigest()[:6], 16) % 151643


# ------------------------------------------------------------------ request parsing

class PromptError(Exception):
    pass


def _image_ref(part):
    value = part.get("image_url", part.get("image"))
    if isinstance(value, dict):
        value = value.get("url")
    return value


def parse_content(content, texts, images):
    """Collect texts and image descriptions from a string or a list of typed parts."""
    if content is None:
        return
    if isinstance(content, str):
        texts.append(content)
        return
    if not isinstance(content, list):
        raise PromptError("content must be a string or a list of parts")
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise PromptError("content part must be an object")
        kind = part.get("type", "text")
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind in ("image_url", "image"):
            ref = _image_ref(part)
            try:
                images.append(imageinfo.describe_image(ref))
            except imageinfo.ImageError as exc:
                raise PromptError(str(exc))
        elif kind in ("video_url", "video"):
            value = part.get(kind)
            if isinstance(value, dict):
                value = value.get("url")
            images.append({"width": 0, "height": 0, "format": "VIDEO", "name": str(value)})
        else:
            raise PromptError("content part type %r is not supported" % kind)


def prompt_tokens(texts, images, chat_messages=0):
    count = sum(count_text_tokens(t) for t in texts)
    for img in images:
        count += VIDEO_TOKENS if img.get("format") == "VIDEO" else image_tokens(img["width"], img["height"])
    if chat_messages:
        count += 3 + 5 * chat_messages     # <|im_start|>role\n ... <|im_end|>\n and the reply header
    return max(count, 1)
