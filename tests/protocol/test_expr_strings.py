"""String functions over the fixed table (tests/protocol/expr_support.py), Spark semantics: characters
not bytes, 1-based positions (0 is 1, negative counts from the end), NULL in -> NULL out except
`concat_ws`, LIKE/ILIKE/RLIKE with escapes, numbers and timestamps printed as Spark prints them when a
string function takes them. Expected values are written by hand or by a one-line Python model per row.
"""

from __future__ import annotations

import pytest

from tests.support.expressions import check, per_row

T, F, N = True, False, None
# s: 'Hello World', 'ünïcödé', '', '  padded  ', 'a_b%c', NULL
CASES = [
    ("upper(s)", ["HELLO WORLD", "ÜNÏCÖDÉ", "", "  PADDED  ", "A_B%C", N]),
    ("ucase(s)", ["HELLO WORLD", "ÜNÏCÖDÉ", "", "  PADDED  ", "A_B%C", N]),
    ("lower(s)", ["hello world", "ünïcödé", "", "  padded  ", "a_b%c", N]),
    ("lcase('ÀB')", "àb"),
    ("length(s)", [11, 7, 0, 10, 5, N]),  # characters, not UTF-8 bytes (ünïcödé is 11 bytes)
    ("char_length(s)", [11, 7, 0, 10, 5, N]),
    ("character_length('ß')", 1),
    ("length(bin)", [2, 0, 3, N, 1, N]),  # bytes of a binary value
    ("length(l)", [1, 2, 1, 7, 2, N]),  # numbers as text
    ("length(d)", [3, 3, 4, 8, 4, N]),  # '1.5', 'NaN', '-0.0', 'Infinity', '-2.5'
    ("length(NULL)", N),
    ("s || '!'", ["Hello World!", "ünïcödé!", "!", "  padded  !", "a_b%c!", N]),
    ("'<' || s || '>'", ["<Hello World>", "<ünïcödé>", "<>", "<  padded  >", "<a_b%c>", N]),
    ("s || l", ["Hello World1", "ünïcödé-7", "0", "  padded  1000000", "a_b%c42", N]),
    ("'a' || NULL", N),
    ("concat(s, '-', l)", ["Hello World-1", "ünïcödé--7", "-0", "  padded  -1000000", "a_b%c-42", N]),
    ("concat('a', 'b', 'c')", "abc"),
    ("concat(s, NULL)", N),  # any NULL argument gives NULL
    ("concat(l, d)", ["11.5", "-7NaN", "0-0.0", "1000000Infinity", "42-2.5", N]),
    ("concat('x', dec)", ["x12.35", "x-0.50", "x0.00", "x99999999.99", "x2.68", N]),
    ("concat('at ', ts)", ["at 2024-01-31 13:45:30.123456", "at 1969-12-31 23:59:59.5", "at 1970-01-01 00:00:00",
                           "at 2023-12-31 23:59:59", "at 2020-06-15 08:05:09", N]),
    ("concat('on ', dt)", ["on 2024-01-31", "on 2024-02-29", "on 1970-01-01", "on 2023-12-31", "on 1969-12-31", N]),
    ("concat(b, '')", ["true", "false", N, "true", "false", N]),
    ("concat_ws('-', s, 'z')", ["Hello World-z", "ünïcödé-z", "-z", "  padded  -z", "a_b%c-z", "z"]),  # NULLs skipped
    ("concat_ws(',', 'a', NULL, 'b')", "a,b"),
    ("concat_ws(NULL, 'a', 'b')", N),
    ("concat_ws('', 'a', 'b')", "ab"),
    ("concat_ws('/', l, i)", ["1/10", "-7/-3", "0/0", "1000000/2147483647", "42/7", ""]),
    ("trim(s)", ["Hello World", "ünïcödé", "", "padded", "a_b%c", N]),
    ("ltrim(s)", ["Hello World", "ünïcödé", "", "padded  ", "a_b%c", N]),
    ("rtrim(s)", ["Hello World", "ünïcödé", "", "  padded", "a_b%c", N]),
    ("trim('\t x \t')", "\t x \t"),  # Spark trims spaces only
    ("trim(BOTH 'a' FROM 'aabaa')", "b"),
    ("trim(LEADING 'a' FROM 'aabaa')", "baa"),
    ("trim(TRAILING 'a' FROM 'aabaa')", "aab"),
    ("trim('xy' FROM 'xyxayx')", "a"),
    ("btrim('xyxayx', 'xy')", "a"),
    ("ltrim('x', 'xxa')", "a"),  # Spark's two-argument ltrim/rtrim/trim take the characters first
    ("substring(s, 1, 5)", ["Hello", "ünïcö", "", "  pad", "a_b%c", N]),
    ("substring(s, 0, 3)", ["Hel", "ünï", "", "  p", "a_b", N]),  # position 0 is position 1
    ("substring(s, 2)", ["ello World", "nïcödé", "", " padded  ", "_b%c", N]),
    ("substring(s, -3)", ["rld", "ödé", "", "d  ", "b%c", N]),
    ("substring(s, -3, 2)", ["rl", "öd", "", "d ", "b%", N]),
    ("substr(s, -20, 3)", ["", "", "", "", "", N]),
    ("substr(s, -12, 3)", ["He", "", "", " ", "", N]),  # starts before the string: only what overlaps
    ("substr(s, 3, 0)", ["", "", "", "", "", N]),
    ("substr(s, 3, -1)", ["", "", "", "", "", N]),
    ("substr(s, 100)", ["", "", "", "", "", N]),
    ("substr('Spark SQL', 5)", "k SQL"),
    ("substr('Spark SQL', -3)", "SQL"),
    ("substr('Spark SQL', 5, 1)", "k"),
    ("substring('abc' FROM 2)", "bc"),
    ("substring('abcdef' FROM 2 FOR 3)", "bcd"),
    ("substring(s, NULL)", N),
    # positions and lengths computed per row
    ("substring(s, l)", ["Hello World", "ünïcödé", "", "", "", N]),  # l: 1, -7, 0, 1000000, 42
    ("substring(s, 1, i)", ["Hello Worl", "", "", "  padded  ", "a_b%c", N]),  # i: 10, -3, 0, 2147483647, 7
    ("substr(s, -2, l + 10)", ["ld", "dé", "", "  ", "%c", N]),
    ("substring(s, id, 2)", ["He", "ün", "", "pa", "%c", N]),
    ("replace(s, 'l', 'L')", ["HeLLo WorLd", "ünïcödé", "", "  padded  ", "a_b%c", N]),
    ("replace(s, 'l')", ["Heo Word", "ünïcödé", "", "  padded  ", "a_b%c", N]),
    ("replace(s, 'ö', 'oe')", ["Hello World", "ünïcoedé", "", "  padded  ", "a_b%c", N]),
    ("replace('aaa', 'aa', 'b')", "ba"),
    ("replace('abc', '', 'x')", "abc"),
    ("replace(s, NULL, 'x')", N),
    ("startswith(s, 'He')", [T, F, F, F, F, N]),
    ("startswith(s, '')", [T, T, T, T, T, N]),
    ("endswith(s, 'c')", [F, F, F, F, T, N]),
    ("endswith(s, 'dé')", [F, T, F, F, F, N]),
    ("contains(s, 'ö')", [F, T, F, F, F, N]),
    ("contains(s, '%')", [F, F, F, F, T, N]),  # no pattern characters in contains
    ("contains(s, NULL)", N),
    ("lpad(s, 14, 'ab')", ["abaHello World", "abababaünïcödé", "ababababababab", "abab  padded  ", "ababababaa_b%c", N]),
    ("lpad(s, 3, 'ab')", ["Hel", "ünï", "aba", "  p", "a_b", N]),  # longer strings are cut to the length
    ("rpad(s, 14, 'xy')", ["Hello Worldxyx", "ünïcödéxyxyxyx", "xyxyxyxyxyxyxy", "  padded  xyxy", "a_b%cxyxyxyxyx", N]),
    ("rpad(s, 2, 'xy')", ["He", "ün", "xy", "  ", "a_", N]),
    ("lpad(s, 0)", ["", "", "", "", "", N]),
    ("lpad(s, -1)", ["", "", "", "", "", N]),
    ("lpad('hi', 5)", "   hi"),  # the default pad is a space
    ("rpad('hi', 5)", "hi   "),
    ("lpad('hi', 5, '')", "hi"),  # an empty pad leaves the string as it is
    ("rpad('hi', 5, '')", "hi"),
    ("lpad('hi', 6, 'ünï')", "ünïühi"),
    ("lpad('hi', 5, NULL)", N),
    ("split_part('a,b,c', ',', 2)", "b"),
    ("split_part('a,b,c', ',', -1)", "c"),
    ("split_part('a,b,c', ',', -3)", "a"),
    ("split_part('a,b,c', ',', 5)", ""),  # out of range: empty
    ("split_part('a,b,c', ',', -5)", ""),
    ("split_part('a,b,c', '', 1)", "a,b,c"),
    ("split_part('a::b::c', '::', 3)", "c"),
    ("split_part(s, ' ', 1)", ["Hello", "ünïcödé", "", "", "a_b%c", N]),
    ("split_part(s, ' ', 2)", ["World", "", "", "", "", N]),
    ("split_part(s, ' ', 3)", ["", "", "", "padded", "", N]),
    ("regexp_extract('100-200', '(\\d+)-(\\d+)', 1)", "100"),
    ("regexp_extract('100-200', '(\\d+)-(\\d+)', 2)", "200"),
    ("regexp_extract('100-200', '(\\d+)-(\\d+)', 0)", "100-200"),
    ("regexp_extract('100-200', '(\\d+)-(\\d+)')", "100"),  # group 1 by default
    ("regexp_extract('foo', '(\\d+)', 1)", ""),  # no match: empty string
    ("regexp_extract('ab', '(x)?b', 1)", ""),  # an unmatched group: empty string
    ("regexp_extract(s, '([a-z]+)_([a-z])', 2)", ["", "", "", "", "b", N]),
    ("regexp_extract(s, '(\\w+) (\\w+)', 1)", ["Hello", "", "", "", "", N]),
    ("regexp_extract(s, '^\\s*(\\w)', 1)", ["H", "ü", "", "p", "a", N]),
    ("initcap('hello wORLD')", "Hello World"),
    ("initcap(s)", ["Hello World", "Ünïcödé", "", "  Padded  ", "A_b%c", N]),
    ("initcap('a-b c_d')", "A-b C_d"),  # words are separated by spaces only
    ("initcap('hELLO  wORLD')", "Hello  World"),
    # LIKE / ILIKE / RLIKE
    ("s LIKE 'H%'", [T, F, F, F, F, N]),
    ("s LIKE '%d'", [T, F, F, F, F, N]),
    ("s LIKE '%'", [T, T, T, T, T, N]),
    ("s LIKE ''", [F, F, T, F, F, N]),
    ("s LIKE '_'", [F, F, F, F, F, N]),
    ("s LIKE '_______'", [F, T, F, F, F, N]),  # _ is one character, ü included
    ("s LIKE '%ö%'", [F, T, F, F, F, N]),
    ("s LIKE 'h%'", [F, F, F, F, F, N]),  # case-sensitive
    ("s ILIKE 'h%'", [T, F, F, F, F, N]),
    ("s ILIKE '%WORLD'", [T, F, F, F, F, N]),
    ("s ILIKE 'ÜN%'", [F, T, F, F, F, N]),
    ("s NOT LIKE 'H%'", [F, T, T, T, T, N]),
    ("s NOT ILIKE 'h%'", [F, T, T, T, T, N]),
    ("s LIKE 'a\\_b\\%c'", [F, F, F, F, T, N]),  # backslash escapes _ and %
    ("s LIKE 'a\\_b%'", [F, F, F, F, T, N]),
    ("'a_c' LIKE 'a\\_c'", T),
    ("'abc' LIKE 'a\\_c'", F),
    ("'abc' LIKE 'a_c'", T),
    ("s LIKE 'a!_b!%c' ESCAPE '!'", [F, F, F, F, T, N]),
    ("s LIKE 'a!_b%' ESCAPE '!'", [F, F, F, F, T, N]),
    ("'abc' LIKE 'a!_c' ESCAPE '!'", F),
    ("'a!c' LIKE 'a!!c' ESCAPE '!'", T),
    ("'a\\c' LIKE 'a\\c' ESCAPE '!'", T),  # with another escape character a backslash is literal
    ("s NOT LIKE 'a!_%' ESCAPE '!'", [T, T, T, T, F, N]),
    ("s LIKE NULL", N),
    # a pattern computed per row
    ("s LIKE s", [T, T, T, T, T, N]),  # 'a_b%c' as a pattern: its _ and % are wildcards that match themselves
    ("concat(st.b, 'x') LIKE concat(st.b, '_')", [T, T, N, N, T, N]),
    ("s LIKE concat(st.b, '%')", [F, F, N, N, F, N]),
    ("'Hello' LIKE concat(substring(s, 1, 1), '%')", [T, F, T, F, F, N]),
    ("upper(s) ILIKE s", [T, T, T, T, T, N]),
    ("'a_c' LIKE concat('a', '!_c') ESCAPE '!'", T),
    ("'abc' LIKE concat('a', '!_c') ESCAPE '!'", F),
    ("'100%' LIKE concat('100', '\\%')", T),
    ("NULL LIKE 'a'", N),
    ("s RLIKE '^[a-z]_'", [F, F, F, F, T, N]),
    ("s RLIKE 'o W'", [T, F, F, F, F, N]),  # a match anywhere
    ("s RLIKE '^$'", [F, F, T, F, F, N]),
    ("s REGEXP 'ö'", [F, T, F, F, F, N]),
    ("regexp_like(s, '\\d')", [F, F, F, F, F, N]),
    ("s RLIKE '^\\s+p'", [F, F, F, T, F, N]),
    ("upper(s) LIKE 'HELLO%' AND length(s) > 5", [T, F, F, F, F, N]),
]


@pytest.mark.parametrize("sql,want", CASES, ids=[c[0] for c in CASES])
def test_string_function(sql: str, want: object) -> None:
    check(sql, want)


def test_functions_with_python_udfs_keep_each_calls_arguments() -> None:
    # Each call registers an Arrow function; a second call that differs only in a literal must not reuse
    # the first call's arguments (lpad(s, 14) once answered every later lpad(s, n) in the process).
    for width in (1, 4, 9):
        check(f"lpad(s, {width}, '*')", per_row(lambda r, w=width: ("*" * w + r["s"])[-w:] if len(r["s"]) < w
                                                else r["s"][:w], "s"))
        check(f"rpad(s, {width}, '*')", per_row(lambda r, w=width: (r["s"] + "*" * w)[:w], "s"))
    for index in (1, 2, -1):
        check(f"split_part('a b c', ' ', {index})", {1: "a", 2: "b", -1: "c"}[index])
    for pattern, want in (("(b+)", "bb"), ("(c)", "c"), ("(a)", "a")):
        check(f"regexp_extract('abbc', '{pattern}', 1)", want)


def test_string_models() -> None:
    # The same functions against a one-line Python model of Spark's semantics, row by row.
    check("upper(s) = upper(upper(s))", per_row(lambda r: True, "s"))
    check("length(s || s)", per_row(lambda r: 2 * len(r["s"]), "s"))
    check("substring(s, 2, 3)", per_row(lambda r: r["s"][1:4], "s"))
    check("lower(upper(s)) = lower(s)", per_row(lambda r: True, "s"))
    check("concat_ws('|', s, s)", [f"{v}|{v}" if v is not None else "" for v in
                                   ["Hello World", "ünïcödé", "", "  padded  ", "a_b%c", None]])
