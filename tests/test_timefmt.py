from datetime import UTC, datetime

import pytest

from berth.errors import InvalidArgument
from berth.timefmt import (
    datetime_to_ns,
    format_rfc3339nano,
    ns_to_datetime,
    parse_rfc3339nano,
)


def test_format_has_nine_digits_utc():
    ns = 1_796_241_290_802_105_202
    assert format_rfc3339nano(ns) == "2026-12-02T19:54:50.802105202Z"
    assert format_rfc3339nano(0) == "1970-01-01T00:00:00.000000000Z"


def test_parse_round_trip_and_offsets():
    ns = 1_796_241_290_802_105_202
    assert parse_rfc3339nano(format_rfc3339nano(ns)) == ns
    assert parse_rfc3339nano("1970-01-01T01:00:00.5+01:00") == 500_000_000
    assert parse_rfc3339nano("1970-01-01T00:00:01Z") == 1_000_000_000
    with pytest.raises(InvalidArgument):
        parse_rfc3339nano("yesterday")


def test_datetime_conversions():
    dt = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert ns_to_datetime(datetime_to_ns(dt)) == dt
    assert datetime_to_ns(dt.replace(tzinfo=None)) == datetime_to_ns(dt)
