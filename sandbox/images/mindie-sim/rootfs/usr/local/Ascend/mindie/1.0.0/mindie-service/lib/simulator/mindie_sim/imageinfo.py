"""Read pixel size and format from image headers (PNG, JPEG, GIF, BMP, WEBP) with the stdlib."""
import base64
import os
import struct
import urllib.parse

VIDEO_EXTENSIONS = (".mp4", ".wmv", ".avi")


class ImageError(Exception):
    pass


def _jpeg_size(data):
    # Walk the marker segments until a start-of-frame (baseline, extended, progressive,
    # lossless, arithmetic...). C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
    pos = 2
    length = len(data)
    while pos < length:
        while pos < length and data[pos] != 0xFF:
            pos += 1
        while pos < length and data[pos] == 0xFF:
            pos += 1
        if pos >= length:
            break
        marker = data[pos]
        pos += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        if marker == 0xD9:
            break
        if pos + 2 > length:
            break
        seg_len = struct.unpack(">H", data[pos:pos + 2])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 7 > length:
                break
            height, width = struct.unpack(">HH", data[pos + 3:pos + 7])
            kind = "progressive" if marker in (0xC2, 0xC6, 0xCA, 0xCE) else "baseline"
            return width, height, kind
        pos += seg_len
    raise ImageError("JPEG without a frame header")


def parse_image_bytes(data):
    """Return (width, height, format) for the image bytes; raise ImageError otherwise."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height, "PNG"
    if data[:2] == b"\xff\xd8":
        width, height, _kind = _jpeg_size(data)
        return width, height, "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return width, height, "GIF"
    if data[:2] == b"BM" and len(data) >= 26:
        header_size = struct.unpack("<I", data[14:18])[0]
        if header_size == 12:
            width, height = struct.unpack("<HH", data[18:22])
        else:
            width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height), "BMP"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        chunk = data[12:16]
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF, "WEBP"
        if chunk == b"VP8L" and data[20] == 0x2F:
            bits = struct.unpack("<I", data[21:25])[0]
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, "WEBP"
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height, "WEBP"
    raise ImageError("unsupported or corrupt image data")


def read_image_source(source, max_bytes=64 * 1024 * 1024):
    """Resolve an image reference (file:// URL, plain path, data: URI) to its bytes.

    Returns (bytes, display_name). Raises ImageError with a message naming the image.
    """
    if not isinstance(source, str) or not source:
        raise ImageError("image reference is empty")
    if source.startswith("data:"):
        header, _, payload = source.partition(",")
        if ";base64" not in header:
            raise ImageError("data URI %s... is not base64 encoded" % source[:32])
        try:
            return base64.b64decode(payload, validate=False), source[:40] + "..."
        except ValueError as exc:
            raise ImageError("data URI %s... cannot be decoded: %s" % (source[:32], exc))
    if source.startswith("file://"):
        path = urllib.parse.unquote(urllib.parse.urlparse(source).path)
    elif "://" in source:
        raise ImageError("image url %s is not supported (only local files and data URIs)" % source)
    else:
        path = source
    try:
        with open(path, "rb") as handle:
            return handle.read(max_bytes), source
    except OSError as exc:
        raise ImageError("image %s cannot be read: %s" % (source, exc.strerror or exc))


def describe_image(source):
    """Return dict(width, height, format, name) for an image reference."""
    data, name = read_image_source(source)
    try:
        width, height, fmt = parse_image_bytes(data)
    except (ImageError, struct.error, IndexError) as exc:
        raise ImageError("image %s is not a valid image: %s" % (name, exc))
    return {"width": width, "height": height, "format": fmt, "name": name}


def is_video(path):
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS
