"""What the studio's watermarks share: the keyed random layout, the payload word (payload and CRC-16)
and its soft decoding.

    rng = keyed_rng(b"studio-watermark-v1", key)     # same key and tag, same layout
    word = payload_bits(payload)                     # PAYLOAD_BITS + CRC_BITS bits, 0/1
    payload = decode(soft)                           # soft sums per bit (> 0: a 1), None if no CRC holds
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["CHASE_BITS", "CRC_BITS", "PAYLOAD_BITS", "WORD_BITS", "Layout", "decode", "keyed_rng", "layout",
           "payload_bits", "payload_from_bits"]

PAYLOAD_BITS = 32
CRC_BITS = 16
WORD_BITS = PAYLOAD_BITS + CRC_BITS
# Decoding tries the 2**CHASE_BITS words with the least reliable bits flipped: a wrong word passes
# the CRC-16 with probability at most 2**CHASE_BITS / 65536 (0.1 %), and only once the pilot is found.
CHASE_BITS = 6


def keyed_rng(tag: bytes, key: bytes) -> np.random.Generator:
    """A generator seeded by the key (and what it lays out, `tag`): only the key's holder can repeat it."""
    seed = int.from_bytes(hashlib.sha256(tag + key).digest()[:8], "big")
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class Layout:
    """What each cell of a watermark's pattern carries."""

    pilot: np.ndarray  # bool: the cell carries the pilot
    chip: np.ndarray  # +-1: the cell's keyed sign
    bit: np.ndarray  # index of the word's bit the cell carries (-1: pilot)


def layout(tag: bytes, key: bytes, shape: tuple[int, int], pilot_share: float) -> Layout:
    """The keyed layout of a pattern of `shape` cells: a `pilot_share` of them, chosen by the key, carry
    the pilot; the others the word's bits in turn, in the key's order; every cell has a keyed sign."""
    rng = keyed_rng(tag, key)
    n = shape[0] * shape[1]
    order = rng.permutation(n)
    n_pilot = int(round(n * pilot_share))
    pilot = np.zeros(n, bool)
    pilot[order[:n_pilot]] = True
    bit = np.full(n, -1, np.int64)
    bit[order[n_pilot:]] = np.arange(n - n_pilot) % WORD_BITS
    chip = rng.choice(np.array([-1.0, 1.0]), n)
    return Layout(pilot.reshape(shape), chip.reshape(shape), bit.reshape(shape))


def payload_bits(payload: int) -> np.ndarray:
    """The payload's bits, then the CRC-16 of its 4 bytes (the low half of their CRC-32), most significant first."""
    if not 0 <= int(payload) < 2 ** PAYLOAD_BITS:
        raise ValueError(f"payload must fit in {PAYLOAD_BITS} bits")
    data = int(payload).to_bytes(PAYLOAD_BITS // 8, "big")
    crc = zlib.crc32(data) & 0xFFFF
    word = (int(payload) << CRC_BITS) | crc
    return np.array([(word >> (WORD_BITS - 1 - i)) & 1 for i in range(WORD_BITS)])


def payload_from_bits(bits: np.ndarray) -> int | None:
    """The payload of a word whose CRC holds, else None."""
    word = 0
    for b in bits:
        word = (word << 1) | int(b)
    payload, crc = word >> CRC_BITS, word & 0xFFFF
    return payload if zlib.crc32(payload.to_bytes(PAYLOAD_BITS // 8, "big")) & 0xFFFF == crc else None


def decode(soft: np.ndarray) -> int | None:
    """The payload from soft bit sums: the hard decision, else the CRC-valid word among those with
    the CHASE_BITS least reliable bits flipped (errors sit almost always among them)."""
    hard = (soft > 0).astype(np.int64)
    weak = np.argsort(np.abs(soft))[:CHASE_BITS]
    for flips in range(2 ** CHASE_BITS):
        word = hard.copy()
        for j, pos in enumerate(weak):
            if flips >> j & 1:
                word[pos] ^= 1
        payload = payload_from_bits(word)
        if payload is not None:
            return payload
    return None
