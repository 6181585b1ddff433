#!/usr/bin/env python3
"""Write deterministic test images for the sandbox.

Usage: generate_test_images.py OUT_DIR

  sample.jpg  1902x1080 JPEG (the guide's test picture size)
  sample.png  640x480 RGB PNG

The JPEG is written with Pillow when it is importable; otherwise with a small built-in
baseline encoder (greyscale, one DC coefficient per 8x8 block) so that the file is still a
real, decodable JFIF image. The PNG is always written with zlib. Standard library only
(Pillow optional); output is byte-for-byte deterministic for a given writer.
"""
import argparse
import os
import struct
import sys
import zlib

JPEG_SIZE = (1902, 1080)
PNG_SIZE = (640, 480)

# Standard luminance DC Huffman table (ITU T.81, Annex K.3).
DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
DC_VALS = list(range(12))
# AC table with a single symbol, EOB (0x00): every block has only its DC coefficient.
AC_BITS = [1] + [0] * 15
AC_VALS = [0]


def _pattern(x, y, width, height):
    """Deterministic picture: diagonal gradient, a bright disc and horizontal bands (0..255)."""
    value = (x * 160 // max(width, 1) + y * 80 // max(height, 1))
    cx, cy, r = width * 0.62, height * 0.45, min(width, height) * 0.22
    if (x - cx) ** 2 + (y - cy) ** 2 < r * r:
        value = 235 - (y * 40 // max(height, 1))
    elif (y // max(height // 9, 1)) % 3 == 0 and x < width * 0.3:
        value = 40 + value // 4
    return max(0, min(255, int(value)))


def _huffman_codes(bits, vals):
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


class _BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0x00)
                self.acc, self.n = 0, 0

    def flush(self):
        while self.n:
            self.write(1, 1)
        return bytes(self.out)


def _segment(marker, payload):
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def encode_dc_jpeg(width, height):
    """Baseline greyscale JPEG whose 8x8 blocks carry their mean brightness."""
    dc_codes = _huffman_codes(DC_BITS, DC_VALS)
    ac_codes = _huffman_codes(AC_BITS, AC_VALS)
    bw = _BitWriter()
    previous = 0
    for by in range((height + 7) // 8):
        for bx in range((width + 7) // 8):
            # Level-shifted block mean; with quantiser 8 the DC coefficient equals mean - 128.
            mean = _pattern(min(bx * 8 + 4, width - 1), min(by * 8 + 4, height - 1), width, height)
            dc = mean - 128
            diff = dc - previous
            previous = dc
            size = abs(diff).bit_length()
            code, length = dc_codes[size]
            bw.write(code, length)
            if size:
                bw.write(diff if diff > 0 else diff + (1 << size) - 1, size)
            code, length = ac_codes[0]
            bw.write(code, length)
    scan = bw.flush()
    out = bytearray(b"\xff\xd8")
    out += _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    out += _segment(0xDB, bytes([0x00]) + bytes([8] + [16] * 63))
    out += _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
    out += _segment(0xC4, bytes([0x00]) + bytes(DC_BITS) + bytes(DC_VALS))
    out += _segment(0xC4, bytes([0x10]) + bytes(AC_BITS) + bytes(AC_VALS))
    out += _segment(0xDA, bytes([1, 1, 0x00, 0, 63, 0]))
    out += scan
    out += b"\xff\xd9"
    return bytes(out)


def encode_png(width, height):
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            grey = _pattern(x, y, width, height)
            rows += bytes((grey, (x * 255) // max(width - 1, 1), (y * 255) // max(height - 1, 1)))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def _write(path, data):
    if os.path.isfile(path):
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    tmp = path + ".tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def jpeg_bytes(width, height):
    try:
        from PIL import Image  # optional
    except ImportError:
        return encode_dc_jpeg(width, height), "built-in baseline encoder (Pillow not importable)"
    import io
    img = Image.new("L", (width, height))
    img.putdata([_pattern(x, y, width, height) for y in range(height) for x in range(width)])
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue(), "Pillow"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    os.chmod(args.out_dir, 0o755)
    data, writer = jpeg_bytes(*JPEG_SIZE)
    changed = _write(os.path.join(args.out_dir, "sample.jpg"), data)
    print("sample.jpg %dx%d via %s%s" % (JPEG_SIZE + (writer, "" if changed else " (unchanged)")))
    changed = _write(os.path.join(args.out_dir, "sample.png"), encode_png(*PNG_SIZE))
    print("sample.png %dx%d%s" % (PNG_SIZE + ("" if changed else " (unchanged)",)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
