"""Build the word lists the parsers use from space-separated text (one place, easy to read)."""

from __future__ import annotations


def word_set(text: str) -> frozenset[str]:
    """Split space-separated words into a set.

    Args:
        text: Words separated by whitespace (line breaks allowed).

    Returns:
        The words as a frozen set.

    >>> sorted(word_set("day night  dusk"))
    ['day', 'dusk', 'night']
    """
    return frozenset(text.split())


def word_list(text: str) -> tuple[str, ...]:
    """Split space-separated words into a tuple, keeping their order.

    Args:
        text: Words separated by whitespace (line breaks allowed).

    Returns:
        The words in order.
    """
    return tuple(text.split())
