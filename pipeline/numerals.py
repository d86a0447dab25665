"""Chinese numerals (``十二``, ``一百零五``), read where numbers order things: episode markers in
a script and episode numbers in file names."""

from __future__ import annotations

import re

CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
#: A run of Chinese numeral characters.
CN_NUMERAL_RE = re.compile(f"[{''.join(CN_DIGITS)}{''.join(CN_UNITS)}]+")


def chinese_number(written: str) -> int | None:
    """Read a Chinese numeral, or ``None`` if ``written`` is not one.

    >>> chinese_number("二十三"), chinese_number("十"), chinese_number("一百零五"), chinese_number("集")
    (23, 10, 105, None)
    """
    if not written:
        return None
    total, digit = 0, 0
    for char in written:
        if char in CN_DIGITS:
            digit = CN_DIGITS[char]
        elif char in CN_UNITS:
            total += (digit or 1) * CN_UNITS[char]
            digit = 0
        else:
            return None
    return total + digit
