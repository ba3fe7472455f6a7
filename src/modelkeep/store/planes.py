"""Tensor chunks stored as byte planes, alone or XORed with the chunk they replace (as ZipNN does).

A float32 weight's four bytes are nothing alike: the sign and exponent byte takes a few values,
the low mantissa bytes are noise. zstd over the weights as they lie finds few matches (a 221 MB
checkpoint came out at 0.93 of its size). Grouped into planes (every element's byte 0, then every
byte 1, ...), the exponent plane compresses to a fraction and the noise stays in its own planes.

A fine-tune moves every weight a little: no byte sequence repeats, so neither dedup nor a
``--patch-from`` delta finds anything. XORed with the same tensor bytes of the version before,
a weight that moved by far less than itself leaves zeros in its sign, exponent and high mantissa
bits, and the planes of those zeros compress to almost nothing.

Stored forms (flag bit 2, ``FLAG_PLANES``): the element width (1 byte), then one zstd frame of
the planes. With the delta flag as well: the base's raw id (32 bytes) first, and the planes are
of the content XOR the base's content (a base shorter than the chunk counts as zeros past its
end). Content whose length is not a multiple of the width keeps its last bytes as they are,
after the planes.
"""

from __future__ import annotations

import zstandard

from modelkeep.errors import IntegrityError

MAX_WIDTH = 8
# numpy is imported where it is used: every command imports the store, few of them meet a tensor.


def split(data: bytes | memoryview, width: int) -> bytes:
    """``data``'s bytes grouped by their position in each ``width``-byte element."""
    import numpy as np

    whole = len(data) - len(data) % width
    raw = np.frombuffer(data, dtype=np.uint8)
    return raw[:whole].reshape(-1, width).T.tobytes() + raw[whole:].tobytes()


def join(planed: bytes | memoryview, width: int) -> bytes:
    """The inverse of ``split``."""
    import numpy as np

    whole = len(planed) - len(planed) % width
    raw = np.frombuffer(planed, dtype=np.uint8)
    rows = raw[:whole].reshape(width, -1)
    out = np.empty((whole // width, width), dtype=np.uint8)
    for byte in range(width):  # a plane at a time: 2.3 GB/s, where one transposed copy gives 1 GB/s
        out[:, byte] = rows[byte]
    return out.tobytes() + raw[whole:].tobytes()


def _xor(data: bytes | memoryview, base: bytes | memoryview) -> bytes | memoryview:
    import numpy as np

    left = np.frombuffer(data, dtype=np.uint8)
    right = np.frombuffer(base, dtype=np.uint8)[: len(left)]
    out = np.empty_like(left)
    np.bitwise_xor(left[: len(right)], right, out=out[: len(right)])
    out[len(right) :] = left[len(right) :]
    return out.data


def encode(
    data: bytes | memoryview,
    width: int,
    compressor: zstandard.ZstdCompressor,
    *,
    base_id: str | None = None,
    base: bytes | memoryview | None = None,
) -> bytes:
    """The stored bytes of ``data`` as planes (XORed with ``base``, the content of ``base_id``, if given)."""
    if not 1 < width <= MAX_WIDTH:
        raise ValueError(f"element width {width} is not between 2 and {MAX_WIDTH}")
    body = data if base is None else _xor(data, base)
    head = bytes([width]) if base_id is None else bytes.fromhex(base_id) + bytes([width])
    return head + compressor.compress(split(body, width))


def decode(
    body: bytes | memoryview, raw_length: int, decompressor: zstandard.ZstdDecompressor, base: bytes | memoryview | None = None
) -> bytes:
    """The content of stored planes (``body``: what follows the base id, if any), not yet verified."""
    if len(body) < 1 or not 1 < body[0] <= MAX_WIDTH:
        raise IntegrityError("stored planes do not start with an element width between 2 and 8")
    try:
        planed = decompressor.decompress(body[1:], max_output_size=raw_length)
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"stored planes do not decompress: {exc}") from exc
    if len(planed) != raw_length:
        raise IntegrityError(f"stored planes hold {len(planed)} bytes, not {raw_length}")
    data = join(planed, body[0])
    return data if base is None else bytes(_xor(data, base))
