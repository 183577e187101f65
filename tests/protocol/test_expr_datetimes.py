"""Date and time functions over the fixed table (tests/protocol/expr_support.py) in the UTC session time
zone: date arithmetic, add_months with end-of-month clamping, fields (dayofweek counts Sunday as 1),
date_trunc, parsing and formatting with Spark's datetime patterns, unix time, INTERVAL arithmetic.
Expected values are written by hand.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tests.support.expressions import ROWS, check, per_row, run

T, F, N = True, False, None
UTC = timezone.utc


def ts(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# dt: 2024-01-31, 2024-02-29, 1970-01-01, 2023-12-31, 1969-12-31, NULL
# ts: 2024-01-31 13:45:30.123456, 1969-12-31 23:59:59.5, 1970-01-01 00:00:00, 2023-12-31 23:59:59,
#     2020-06-15 08:05:09, NULL (UTC)
# tsn: 2024-01-31 13:45:30, 2000-02-29 00:00:01, 1970-01-01 00:00:00, 2023-12-31 23:59:59, 2020-06-15 08:05:09
CASES = [
    ("date_add(dt, 1)", [date(2024, 2, 1), date(2024, 3, 1), date(1970, 1, 2), date(2024, 1, 1), date(1970, 1, 1), N]),
    ("date_add(dt, -1)", [date(2024, 1, 30), date(2024, 2, 28), date(1969, 12, 31), date(2023, 12, 30), date(1969, 12, 30), N]),
    ("date_sub(dt, 1)", [date(2024, 1, 30), date(2024, 2, 28), date(1969, 12, 31), date(2023, 12, 30), date(1969, 12, 30), N]),
    ("date_add(dt, 366)", [date(2025, 1, 31), date(2025, 3, 1), date(1971, 1, 2), date(2024, 12, 31), date(1971, 1, 1), N]),
    ("date_add('2024-02-28', 1)", date(2024, 2, 29)),
    ("date_add(ts, 1)", [date(2024, 2, 1), date(1970, 1, 1), date(1970, 1, 2), date(2024, 1, 1), date(2020, 6, 16), N]),
    ("date_add(dt, NULL)", N),
    ("datediff(dt, DATE'2024-01-01')", [30, 59, -19723, -1, -19724, N]),
    ("datediff('2024-03-01', '2024-02-01')", 29),
    ("datediff(DATE'2023-03-01', DATE'2023-02-01')", 28),
    ("datediff(dt, dt)", [0, 0, 0, 0, 0, N]),
    ("add_months(dt, 1)", [date(2024, 2, 29), date(2024, 3, 29), date(1970, 2, 1), date(2024, 1, 31), date(1970, 1, 31), N]),
    ("add_months(DATE'2024-01-31', 1)", date(2024, 2, 29)),  # clamped to the end of the month
    ("add_months(DATE'2023-01-31', 1)", date(2023, 2, 28)),
    ("add_months(DATE'2024-03-31', -1)", date(2024, 2, 29)),
    ("add_months(DATE'2024-02-29', 12)", date(2025, 2, 28)),
    ("add_months(DATE'2024-01-15', -13)", date(2022, 12, 15)),
    ("add_months(dt, 0)", [date(2024, 1, 31), date(2024, 2, 29), date(1970, 1, 1), date(2023, 12, 31), date(1969, 12, 31), N]),
    ("year(dt)", [2024, 2024, 1970, 2023, 1969, N]),
    ("month(dt)", [1, 2, 1, 12, 12, N]),
    ("day(dt)", [31, 29, 1, 31, 31, N]),
    ("dayofmonth(dt)", [31, 29, 1, 31, 31, N]),
    ("quarter(dt)", [1, 1, 1, 4, 4, N]),
    ("dayofyear(dt)", [31, 60, 1, 365, 365, N]),
    ("dayofweek(dt)", [4, 5, 5, 1, 4, N]),  # Sunday = 1: a Wednesday, Thursday, Thursday, Sunday, Wednesday
    ("dayofweek(DATE'2024-06-02')", 1),
    ("dayofweek(DATE'2024-06-08')", 7),
    ("year(ts)", [2024, 1969, 1970, 2023, 2020, N]),
    ("month(ts)", [1, 12, 1, 12, 6, N]),
    ("day(ts)", [31, 31, 1, 31, 15, N]),
    ("hour(ts)", [13, 23, 0, 23, 8, N]),
    ("minute(ts)", [45, 59, 0, 59, 5, N]),
    ("second(ts)", [30, 59, 0, 59, 9, N]),
    ("hour(tsn)", [13, 0, 0, 23, 8, N]),
    ("second(tsn)", [30, 1, 0, 59, 9, N]),
    ("year(tsn)", [2024, 2000, 1970, 2023, 2020, N]),
    ("year('2024-05-06')", 2024),
    ("month('2024-05-06 07:08:09')", 5),
    ("hour('2024-05-06 07:08:09')", 7),
    ("date_trunc('month', ts)", [ts(2024, 1, 1), ts(1969, 12, 1), ts(1970, 1, 1), ts(2023, 12, 1), ts(2020, 6, 1), N]),
    ("date_trunc('MM', ts)", [ts(2024, 1, 1), ts(1969, 12, 1), ts(1970, 1, 1), ts(2023, 12, 1), ts(2020, 6, 1), N]),
    ("date_trunc('YEAR', dt)", [ts(2024, 1, 1), ts(2024, 1, 1), ts(1970, 1, 1), ts(2023, 1, 1), ts(1969, 1, 1), N]),
    ("date_trunc('yyyy', ts)", [ts(2024, 1, 1), ts(1969, 1, 1), ts(1970, 1, 1), ts(2023, 1, 1), ts(2020, 1, 1), N]),
    ("date_trunc('quarter', ts)", [ts(2024, 1, 1), ts(1969, 10, 1), ts(1970, 1, 1), ts(2023, 10, 1), ts(2020, 4, 1), N]),
    ("date_trunc('week', DATE'2024-06-02')", ts(2024, 5, 27)),  # weeks start on Monday
    ("date_trunc('week', DATE'2024-06-03')", ts(2024, 6, 3)),
    ("date_trunc('day', ts)", [ts(2024, 1, 31), ts(1969, 12, 31), ts(1970, 1, 1), ts(2023, 12, 31), ts(2020, 6, 15), N]),
    ("date_trunc('hour', ts)", [ts(2024, 1, 31, 13), ts(1969, 12, 31, 23), ts(1970, 1, 1), ts(2023, 12, 31, 23), ts(2020, 6, 15, 8), N]),
    ("date_trunc('minute', ts)", [ts(2024, 1, 31, 13, 45), ts(1969, 12, 31, 23, 59), ts(1970, 1, 1), ts(2023, 12, 31, 23, 59),
                                  ts(2020, 6, 15, 8, 5), N]),
    ("date_trunc('second', ts)", [ts(2024, 1, 31, 13, 45, 30), ts(1969, 12, 31, 23, 59, 59), ts(1970, 1, 1),
                                  ts(2023, 12, 31, 23, 59, 59), ts(2020, 6, 15, 8, 5, 9), N]),
    ("date_trunc('day', tsn)", [datetime(2024, 1, 31), datetime(2000, 2, 29), datetime(1970, 1, 1), datetime(2023, 12, 31),
                                datetime(2020, 6, 15), N]),
    ("to_date('2024-03-05')", date(2024, 3, 5)),
    ("to_date('2024-03-05 23:59:59')", date(2024, 3, 5)),
    ("to_date('05/03/2024', 'dd/MM/yyyy')", date(2024, 3, 5)),
    ("to_date('2024-13-05')", N),  # not a date: NULL
    ("to_date('not a date', 'yyyy-MM-dd')", N),
    ("to_date(ts)", [date(2024, 1, 31), date(1969, 12, 31), date(1970, 1, 1), date(2023, 12, 31), date(2020, 6, 15), N]),
    ("to_date(NULL)", N),
    ("to_timestamp('2024-03-05 10:11:12')", ts(2024, 3, 5, 10, 11, 12)),
    ("to_timestamp('2024-03-05T10:11:12+02:00')", ts(2024, 3, 5, 8, 11, 12)),
    ("to_timestamp('2024-03-05')", ts(2024, 3, 5)),
    ("to_timestamp('05/03/2024 10:11', 'dd/MM/yyyy HH:mm')", ts(2024, 3, 5, 10, 11)),
    ("to_timestamp('2024-03-05 10:11:12', 'yyyy-MM-dd HH:mm:ss')", ts(2024, 3, 5, 10, 11, 12)),
    ("to_timestamp(s)", N),  # text that is no timestamp: NULL
    ("to_timestamp(dt)", [ts(2024, 1, 31), ts(2024, 2, 29), ts(1970, 1, 1), ts(2023, 12, 31), ts(1969, 12, 31), N]),
    ("date_format(ts, 'yyyy-MM-dd HH:mm:ss')", ["2024-01-31 13:45:30", "1969-12-31 23:59:59", "1970-01-01 00:00:00",
                                                "2023-12-31 23:59:59", "2020-06-15 08:05:09", N]),
    ("date_format(dt, 'dd.MM.yy')", ["31.01.24", "29.02.24", "01.01.70", "31.12.23", "31.12.69", N]),
    ("date_format(dt, 'yyyy/MM')", ["2024/01", "2024/02", "1970/01", "2023/12", "1969/12", N]),
    ("date_format(tsn, 'yyyy')", ["2024", "2000", "1970", "2023", "2020", N]),
    ("date_format(DATE'2024-06-02', 'EEEE, MMMM dd')", "Sunday, June 02"),
    ("date_format(DATE'2024-06-02', 'EEE MMM')", "Sun Jun"),
    ("date_format(TIMESTAMP'2024-06-02 15:04:05', 'HH:mm a')", "15:04 PM"),
    ("date_format(DATE'2024-06-02', '''day'' dd')", "day 02"),  # quoted text in the pattern
    ("date_format('2024-06-02', 'MM')", "06"),
    ("unix_timestamp(ts)", [1706708730, -1, 0, 1704067199, 1592208309, N]),  # floor to the second
    ("unix_timestamp('2024-01-01 00:00:00')", 1704067200),
    ("unix_timestamp('01/01/2024', 'dd/MM/yyyy')", 1704067200),
    ("unix_timestamp(dt)", [1706659200, 1709164800, 0, 1703980800, -86400, N]),
    ("from_unixtime(0)", "1970-01-01 00:00:00"),
    ("from_unixtime(l)", ["1970-01-01 00:00:01", "1969-12-31 23:59:53", "1970-01-01 00:00:00", "1970-01-12 13:46:40",
                          "1970-01-01 00:00:42", N]),
    ("from_unixtime(86400, 'yyyy-MM-dd')", "1970-01-02"),
    ("from_unixtime(dec)", ["1970-01-01 00:00:12", "1970-01-01 00:00:00", "1970-01-01 00:00:00", "1973-03-03 09:46:39",
                            "1970-01-01 00:00:02", N]),  # seconds cast to bigint toward zero
    ("from_unixtime(1704067200, 'dd/MM/yyyy HH:mm')", "01/01/2024 00:00"),
    ("from_unixtime(unix_timestamp(ts))", ["2024-01-31 13:45:30", "1969-12-31 23:59:59", "1970-01-01 00:00:00",
                                           "2023-12-31 23:59:59", "2020-06-15 08:05:09", N]),
    # INTERVAL arithmetic
    ("dt + INTERVAL 1 DAY", [date(2024, 2, 1), date(2024, 3, 1), date(1970, 1, 2), date(2024, 1, 1), date(1970, 1, 1), N]),
    ("dt - INTERVAL 2 DAYS", [date(2024, 1, 29), date(2024, 2, 27), date(1969, 12, 30), date(2023, 12, 29), date(1969, 12, 29), N]),
    ("dt + INTERVAL 1 WEEK", [date(2024, 2, 7), date(2024, 3, 7), date(1970, 1, 8), date(2024, 1, 7), date(1970, 1, 7), N]),
    ("dt + INTERVAL 1 MONTH", [date(2024, 2, 29), date(2024, 3, 29), date(1970, 2, 1), date(2024, 1, 31), date(1970, 1, 31), N]),
    ("dt - INTERVAL 1 MONTH", [date(2023, 12, 31), date(2024, 1, 29), date(1969, 12, 1), date(2023, 11, 30), date(1969, 11, 30), N]),
    ("dt + INTERVAL 1 YEAR", [date(2025, 1, 31), date(2025, 2, 28), date(1971, 1, 1), date(2024, 12, 31), date(1970, 12, 31), N]),
    ("INTERVAL 1 DAY + dt", [date(2024, 2, 1), date(2024, 3, 1), date(1970, 1, 2), date(2024, 1, 1), date(1970, 1, 1), N]),
    ("ts + INTERVAL 1 HOUR", [ts(2024, 1, 31, 14, 45, 30, 123456), ts(1970, 1, 1, 0, 59, 59, 500000), ts(1970, 1, 1, 1),
                              ts(2024, 1, 1, 0, 59, 59), ts(2020, 6, 15, 9, 5, 9), N]),
    ("ts - INTERVAL '30' MINUTE", [ts(2024, 1, 31, 13, 15, 30, 123456), ts(1969, 12, 31, 23, 29, 59, 500000),
                                   ts(1969, 12, 31, 23, 30), ts(2023, 12, 31, 23, 29, 59), ts(2020, 6, 15, 7, 35, 9), N]),
    ("ts + INTERVAL 1 SECOND", [ts(2024, 1, 31, 13, 45, 31, 123456), ts(1970, 1, 1, 0, 0, 0, 500000), ts(1970, 1, 1, 0, 0, 1),
                                ts(2024, 1, 1), ts(2020, 6, 15, 8, 5, 10), N]),
    ("ts + INTERVAL 500 MILLISECONDS", [ts(2024, 1, 31, 13, 45, 30, 623456), ts(1970, 1, 1), ts(1970, 1, 1, 0, 0, 0, 500000),
                                        ts(2023, 12, 31, 23, 59, 59, 500000), ts(2020, 6, 15, 8, 5, 9, 500000), N]),
    ("ts + INTERVAL 1 MONTH", [ts(2024, 2, 29, 13, 45, 30, 123456), ts(1970, 1, 31, 23, 59, 59, 500000), ts(1970, 2, 1),
                               ts(2024, 1, 31, 23, 59, 59), ts(2020, 7, 15, 8, 5, 9), N]),  # keeps the time of day
    ("tsn + INTERVAL 1 DAY", [datetime(2024, 2, 1, 13, 45, 30), datetime(2000, 3, 1, 0, 0, 1), datetime(1970, 1, 2),
                              datetime(2024, 1, 1, 23, 59, 59), datetime(2020, 6, 16, 8, 5, 9), N]),
    ("tsn - INTERVAL 1 YEAR", [datetime(2023, 1, 31, 13, 45, 30), datetime(1999, 2, 28, 0, 0, 1), datetime(1969, 1, 1),
                               datetime(2022, 12, 31, 23, 59, 59), datetime(2019, 6, 15, 8, 5, 9), N]),
    ("dt + INTERVAL 1 DAY > '2024-02-29'", [F, T, F, F, F, N]),
    ("ts > TIMESTAMP'2024-01-01 00:00:00' - INTERVAL 1 DAY", [T, F, F, T, F, N]),
    ("dt >= DATE'2024-02-29' - INTERVAL 1 MONTH", [T, T, F, F, F, N]),
    ("year(dt) = 2024 AND month(dt) = 2", [F, T, F, F, F, N]),
    ("dt < current_date()", [T, T, T, T, T, N]),
    ("ts < current_timestamp()", [T, T, T, T, T, N]),
    ("current_date() = current_date", T),
    ("datediff(current_date(), DATE'2020-01-01') > 0", T),
]


@pytest.mark.parametrize("sql,want", CASES, ids=[c[0] for c in CASES])
def test_datetime_function(sql: str, want: object) -> None:
    check(sql, want)


def test_current_date_and_timestamp_are_utc_now() -> None:
    before = datetime.now(UTC)
    got_ts = run("current_timestamp()")[0]
    got_date = run("current_date()")[0]
    after = datetime.now(UTC)
    assert before - timedelta(seconds=1) <= got_ts <= after + timedelta(seconds=1)
    assert got_date in (before.date(), after.date())


def test_datetime_models() -> None:
    # A per-row model of the same functions in plain Python.
    check("dayofweek(dt)", per_row(lambda r: r["dt"].isoweekday() % 7 + 1, "dt"))
    check("dayofyear(dt)", per_row(lambda r: r["dt"].timetuple().tm_yday, "dt"))
    check("datediff(dt, DATE'2000-01-01')", per_row(lambda r: (r["dt"] - date(2000, 1, 1)).days, "dt"))
    check("date_add(dt, 45)", per_row(lambda r: r["dt"] + timedelta(days=45), "dt"))
    check("minute(ts) * 60 + second(ts)", per_row(lambda r: r["ts"].minute * 60 + r["ts"].second, "ts"))
    assert len(ROWS) == 6
