"""UIN and VID numbers: random 10-digit numbers ending in a Verhoeff check digit.

The Verhoeff scheme catches every single-digit error and every adjacent transposition, which is why
MOSIP uses it for UINs. Numbers are random (never sequential), never start with 0 or 1, and avoid
runs and repeated digits that make them easy to guess or mistype.
"""

from __future__ import annotations

import re
import secrets

_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]
_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff_digit(digits: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[c])


def verhoeff_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def _easy_to_guess(body: str) -> bool:
    if re.search(r"(\d)\1\1", body):  # three identical digits in a row
        return True
    ascending = "0123456789"
    return any(body[i : i + 4] in ascending or body[i : i + 4] in ascending[::-1] for i in range(len(body) - 3))


def generate_number(length: int = 10) -> str:
    while True:
        body = str(secrets.choice("23456789")) + "".join(secrets.choice("0123456789") for _ in range(length - 2))
        if not _easy_to_guess(body):
            return body + verhoeff_digit(body)
