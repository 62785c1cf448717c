"""Deterministic random streams, resource ids and NPIs derived from the seed."""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, *labels: object) -> int:
    """A 64-bit seed for the stream named by ``labels`` (stable across Python versions)."""
    text = ":".join([str(seed), *(str(label) for label in labels)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def derive_rng(seed: int, *labels: object) -> random.Random:
    """An independent ``random.Random`` for the stream named by ``labels``."""
    return random.Random(derive_seed(seed, *labels))


def uuid_from(rng: random.Random) -> str:
    """A version-4-shaped UUID string drawn from ``rng``."""
    bits = (rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64)
    bits |= 0x8000 << 48
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def luhn_npi(stem: str) -> str:
    """The 10-digit NPI for a 9-digit ``stem`` (Luhn check digit over prefix 80840)."""
    digits = [int(char) for char in "80840" + stem]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if position % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return stem + str((10 - total % 10) % 10)


class NpiFactory:
    """Unique, valid-looking NPIs drawn from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[str] = set()

    def next(self) -> str:
        while True:
            npi = luhn_npi(str(self._rng.randint(100_000_000, 299_999_999)))
            if npi not in self._seen:
                self._seen.add(npi)
                return npi
