"""统一社会信用代码 (unified social credit code, GB 32100-2015) check character."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    """The 18th character computed from the first 17 (raises ValueError on a bad character)."""
    if len(first17) != 17:
        raise ValueError("need the first 17 characters")
    total = sum(ALPHABET.index(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


_REGION_DIGITS = range(2, 8)


def well_formed(code: str) -> bool:
    """18 characters of the code's alphabet, with digits where the region code stands."""
    return (
        len(code) == 18
        and all(ch in ALPHABET for ch in code)
        and all(code[i].isdigit() for i in _REGION_DIGITS)
    )


def is_valid(code: str) -> bool:
    """True when ``code`` has 18 valid characters and the right check character."""
    return well_formed(code) and check_character(code[:17]) == code[17]


def complete(first17: str) -> str:
    """A full code: the first 17 characters plus their check character."""
    return first17 + check_character(first17)
