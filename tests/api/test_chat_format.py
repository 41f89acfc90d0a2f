"""api/chat_format.py: display strings, numbers in free text, IDR formatting."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.chat_format import extract_numbers, format_idr, format_number, is_close_to_any, parse_display_number


@pytest.mark.parametrize("text, expected", [
    ("1.21 Miliar IDR", (1.21e9, "idr")),
    ("640 Juta IDR", (640e6, "idr")),
    ("-150 Juta IDR", (-150e6, "idr")),
    ("Rp 1,21 miliar", (1.21e9, "")),
    ("1,802 Ton", (1802.0, "ton")),  # prototype (English) style: ',' before three digits groups thousands
    ("1.802.000 Ton", (1802000.0, "ton")),  # Indonesian thousands
    ("1.802,5 Ton", (1802.5, "ton")),
    ("0.41 L/Ton", (0.41, "l/ton")),
    ("0,41 L/Ton", (0.41, "l/ton")),
    ("0.8 Jam", (0.8, "jam")),
    ("10 Unit", (10.0, "unit")),
    ("12%", (0.12, "")),
])
def test_display_strings(text, expected):
    assert parse_display_number(text) == expected


@pytest.mark.parametrize("text", ["???", "N/A", "", "Unit 10", "1.2.3 Ton"])
def test_not_numbers(text):
    with pytest.raises(ValueError, match="is not a number"):
        parse_display_number(text)


def test_free_text_keeps_every_reading():
    tokens = {t.text: t.readings for t in extract_numbers(
        "Profit Rp1,21 miliar vs Rp640 juta (89%), 1.802 ton, SK500-10-001, 23.11.2025, 3 M")}
    assert tokens["1,21 miliar"] == ((1.21e9, 0.005e9),)
    assert tokens["640 juta"] == ((640e6, 0.5e6),)
    assert tokens["89%"] == ((0.89, 0.005),)
    assert tokens["1.802"] == ((1802.0, 0.5), (1.802, 0.0005))  # Indonesian thousands or English decimal
    assert tokens["3 M"] == ((3e6, 0.5e6), (3e9, 0.5e9))  # million (en) or miliar (id)
    assert {"500", "10", "001"} <= set(tokens) and "23.11.2025" not in tokens  # a date is no quantity


@pytest.mark.parametrize("value, indonesian, english", [
    (1.21e9, "Rp1,21 miliar", "IDR 1.21 billion"),
    (640e6, "Rp640 juta", "IDR 640 million"),
    (-570e6, "-Rp570 juta", "-IDR 570 million"),
    (12.5e6, "Rp12,5 juta", "IDR 12.5 million"),
    (850_000, "Rp850.000", "IDR 850,000"),
    (0.9997e9, "Rp1 miliar", "IDR 1 billion"),
])
def test_idr(value, indonesian, english):
    assert (format_idr(value, "id"), format_idr(value, "en")) == (indonesian, english)


def test_numbers():
    assert format_number(1802, 0, "id") == "1.802" and format_number(1802.5, 1, "en") == "1,802.5"
    assert format_number(0.41, 2, "id") == "0,41" and format_number(0.80, 2, "id") == "0,8"
    assert format_number(-0.001, 2, "id") == "0"  # no "-0"


@given(st.floats(-1e12, 1e12, allow_nan=False), st.sampled_from(["id", "en"]))
def test_formatted_money_reads_back_within_its_precision(value, language):
    (token,) = [t for t in extract_numbers(format_idr(value, language)) if t.scaled or abs(value) < 1e6]
    assert any(is_close_to_any(abs(value), tol, [v]) for v, tol in token.readings)
