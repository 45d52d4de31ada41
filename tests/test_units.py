"""gpusim.units: exact parsing of unit strings, rejections with a reason, and format/parse round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpusim import units
from gpusim.units import (
    format_bandwidth,
    format_bandwidth_per_clock,
    format_frequency,
    format_size,
    format_time,
    parse_bandwidth,
    parse_bandwidth_per_clock,
    parse_frequency,
    parse_size,
    parse_time,
    time_to_cycles,
)


@pytest.mark.parametrize(
    ("text", "hz"),
    [("1.41 GHz", 1_410_000_000), ("1800 MHz", 1_800_000_000), ("1.132 GHz", 1_132_000_000),
     ("3500.5 MHz", 3_500_500_000), ("100 kHz", 100_000), ("7 Hz", 7), ("1.8GHz", 1_800_000_000),
     ("1e3 MHz", 1_000_000_000)],
)
def test_parse_frequency_is_exact_integer_hz(text, hz):
    assert parse_frequency(text) == hz
    assert type(parse_frequency(text)) is int


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("40 MiB", 40 * 2**20), ("40 MB", 40_000_000), ("164 KiB", 167_936), ("128 B", 128),
     ("1.5 KiB", 1536), ("5.5 MB", 5_500_000), ("1 GiB", 2**30), ("2 TB", 2 * 10**12), ("0 B", 0)],
)
def test_parse_size_binary_and_decimal_prefixes(text, nbytes):
    assert parse_size(text) == nbytes
    assert type(parse_size(text)) is int


@pytest.mark.parametrize(
    ("text", "bps"),
    [("1.55 TB/s", 1.55e12), ("768 GB/s", 768e9), ("2.039 TB/s", 2.039e12), ("1 GiB/s", float(2**30)),
     ("10 B/s", 10.0)],
)
def test_parse_bandwidth_bytes_per_second(text, bps):
    assert parse_bandwidth(text) == bps


def test_parse_bandwidth_per_clock_is_separate_from_bytes_per_second():
    assert parse_bandwidth_per_clock("64 B/clk") == 64.0
    assert parse_bandwidth_per_clock("0.5 B/clk") == 0.5
    with pytest.raises(ValueError, match="needs a clock"):
        parse_bandwidth("64 B/clk")
    with pytest.raises(ValueError, match="unknown unit"):
        parse_bandwidth_per_clock("768 GB/s")


@pytest.mark.parametrize(
    ("text", "ps"), [("25 ns", 25_000), ("1.5 us", 1_500_000), ("3 ps", 3), ("2 ms", 2 * 10**9), ("1 s", 10**12)]
)
def test_parse_time_is_integer_picoseconds(text, ps):
    assert parse_time(text) == ps


@pytest.mark.parametrize(
    ("parser", "text", "reason"),
    [
        (parse_frequency, "1.41 GHzz", "unknown unit 'GHzz'"),
        (parse_frequency, "1.41 ghz", "unknown unit 'ghz'"),        # one spelling per unit
        (parse_frequency, "1.41", "expected '<number> <unit>'"),
        (parse_frequency, "GHz", "expected '<number> <unit>'"),
        (parse_frequency, "-1 GHz", "negative"),
        (parse_frequency, "0.5 Hz", "not a whole number of Hz"),
        (parse_frequency, 1.41, "needs a unit"),
        (parse_frequency, None, "expected a frequency string"),
        (parse_frequency, True, "expected a frequency string"),
        (parse_size, "40 MiBs", "unknown unit 'MiBs'"),
        (parse_size, "1.5 B", "not a whole number of bytes"),
        (parse_size, 4096, "needs a unit"),
        (parse_size, "40 MiB extra", "expected '<number> <unit>'"),
        (parse_bandwidth, "768 GB", "unknown unit 'GB'"),
        (parse_bandwidth, 768, "needs a unit"),
        (parse_time, "25 nsec", "unknown unit 'nsec'"),
        (parse_time, "0.1 ps", "not a whole number of ps"),
    ],
)
def test_bad_unit_strings_raise_value_error_with_reason(parser, text, reason):
    with pytest.raises(ValueError) as info:
        parser(text)
    assert reason in str(info.value)


def test_unknown_unit_error_suggests_the_closest_unit():
    with pytest.raises(ValueError, match="did you mean 'GHz'"):
        parse_frequency("1.41 GHzz")
    with pytest.raises(ValueError, match="did you mean 'MiB'"):
        parse_size("40 MiBs")


@pytest.mark.parametrize(
    ("formatter", "value", "text"),
    [(format_frequency, 1_410_000_000, "1.41 GHz"), (format_frequency, 1_132_000_000, "1.132 GHz"),
     (format_size, 6 * 2**20, "6 MiB"), (format_size, 167_936, "164 KiB"), (format_size, 5_500_000, "5.5 MB"),
     (format_size, 128, "128 B"), (format_size, 0, "0 B"), (format_bandwidth, 768e9, "768 GB/s"),
     (format_bandwidth, 2.039e12, "2.039 TB/s"), (format_time, 25_000, "25 ns"),
     (format_bandwidth_per_clock, 64.0, "64 B/clk")],
)
def test_formatters_pick_the_largest_exact_unit(formatter, value, text):
    assert formatter(value) == text


@given(st.integers(min_value=0, max_value=10**15))
def test_size_round_trip(n):
    assert parse_size(format_size(n)) == n


@given(st.integers(min_value=0, max_value=10**13))
def test_frequency_round_trip(hz):
    assert parse_frequency(format_frequency(hz)) == hz


@given(st.integers(min_value=0, max_value=10**16))
def test_time_round_trip(ps):
    assert parse_time(format_time(ps)) == ps


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
def test_bandwidth_round_trip_is_bit_exact(bps):
    assert parse_bandwidth(format_bandwidth(bps)) == bps


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_bandwidth_per_clock_round_trip(bpc):
    assert parse_bandwidth_per_clock(format_bandwidth_per_clock(bpc)) == bpc


def test_formatters_reject_negative_and_non_numbers():
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(ValueError):
            format_size(bad)
    with pytest.raises(ValueError):
        format_bandwidth(float("inf"))


def test_time_to_cycles_rounds_to_nearest_cycle():
    # HW001: 23.4 ns at 1395 MHz is the 32.7-cycle A100 L1 hit
    assert time_to_cycles(parse_time("23.4 ns"), parse_frequency("1395 MHz")) == 33
    assert time_to_cycles(500, 1_000_000_000) == 1      # 0.5 cycle rounds half up
    assert time_to_cycles(499, 1_000_000_000) == 0
    with pytest.raises(ValueError):
        time_to_cycles(1, 0)


def test_units_module_exports_only_parsers_and_formatters():
    assert all(name.startswith(("parse_", "format_", "time_to_")) for name in units.__all__)
