"""Whole numbers as people and other systems write them in text: ASCII digits only.

`str.isdigit()` is true of '١٢٣' (Arabic-Indic digits, which `int()` reads as 123) and of '²' (which `int()`
refuses: a 500 where `isdigit()` guarded an `int()`), and `int()` refuses more than 4,300 digits. An id, a
quantity or a number in a form or a header is read here instead.
"""

MAX_DIGITS = 18  # anything longer is no id of ours (PostgreSQL's bigint holds 18 digits whole)


def whole_number(text, *, max_digits=MAX_DIGITS):
    """`text` (blanks around it allowed) as an int when it is 1 to `max_digits` ASCII digits, else None."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
