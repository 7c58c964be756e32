""" "Did you mean" hints for unknown names."""

from __future__ import annotations

from collections.abc import Iterable


def close_matches(word: str, candidates: Iterable[str], limit: int = 1) -> list[str]:
    """The candidates most similar to ``word`` (empty when nothing is close)."""
    import difflib  # only for a name that was not found (not at every start-up)

    pool = list(dict.fromkeys(candidates))
    found = difflib.get_close_matches(word, pool, n=limit, cutoff=0.5)
    if not found:
        # Short Chinese names: a shared substring is a better signal than edit ratio.
        found = [c for c in pool if word and (word in c or c in word)][:limit]
    return found


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A Chinese hint such as ``，是否想写 '人社局'？`` or an empty string."""
    found = close_matches(word, candidates)
    return f"，是否想写 '{found[0]}'？" if found else ""
