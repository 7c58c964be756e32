"""统一社会信用代码 (unified social credit code, GB 32100-2015) check character."""

from __future__ import annotations

from functools import lru_cache

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: each character's value (its index in ALPHABET)
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_ALPHABET_SET = frozenset(ALPHABET)


def check_character(first17: str) -> str:
    """The 18th character computed from the first 17 (raises ValueError on a bad character)."""
    if len(first17) != 17:
        raise ValueError("need the first 17 characters")
    try:
        total = sum(map(int.__mul__, map(_VALUE.__getitem__, first17), WEIGHTS))
    except KeyError:
        raise ValueError(f"{first17!r} has a character outside the code's alphabet") from None
    return ALPHABET[(31 - total % 31) % 31]


_REGION_DIGITS = range(2, 8)


def well_formed(code: str) -> bool:
    """18 characters of the code's alphabet, with digits where the region code stands."""
    return (
        len(code) == 18
        and _ALPHABET_SET.issuperset(code)
        and all(code[i].isdigit() for i in _REGION_DIGITS)
    )


@lru_cache(maxsize=8192)  # an office's ledger names a few thousand enterprises, many times
def is_valid(code: str) -> bool:
    """True when ``code`` has 18 valid characters and the right check character."""
    return well_formed(code) and check_character(code[:17]) == code[17]


def complete(first17: str) -> str:
    """A full code: the first 17 characters plus their check character."""
    return first17 + check_character(first17)
