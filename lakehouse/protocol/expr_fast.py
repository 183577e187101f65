"""A fast path for the commonest predicates: comparisons of columns and literals joined by AND, OR and
NOT, with IN lists, BETWEEN and IS [NOT] NULL — `id = 5`, `bucket = 7 AND day >= '2024-01-01'`,
`t.id = s.id`, `k IN (1, 2, 3)`.

Importing sqlglot and building its Spark dialect costs about 0.1 s, more than a whole DELETE with
deletion vectors; a process that deletes or filters once pays it every time. This parser reads only that
small subset and builds exactly the tree `expr_sql` builds for the same text (a differential test parses
random predicates both ways and compares the trees). Anything else — functions, arithmetic, casts, typed
literals, LIKE, keywords used as names, comments, a syntax error — returns None and the text goes to
sqlglot, which also owns every error message. Pure; no I/O.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Union

from lakehouse.protocol.expr_ast import And, Cmp, CmpOp, Col, Expr, In, IsNull, Lit, Not, Or

# sqlglot's Spark keywords and parameterless functions (`current_date`): a bare name among them may mean
# something else there, so the fast path never reads one as a column (tests/protocol/test_expr_fast.py
# checks this list still covers sqlglot's).
RESERVED = frozenset("""
ALL ALTER ANALYZE AND ANTI ANY APPLY ARRAY AS ASC ASOF AUTOINCREMENT AUTO_INCREMENT BEGIN BETWEEN BIGDECIMAL
BIGINT BIGNUM BIGNUMERIC BINARY BIT BLOB BOOL BOOLEAN BPCHAR BYTE BYTEA CACHE CALL CASE CHAR CHARACTER CLOB
COLLATE COLUMN COMMENT COMMIT CONSTRAINT COPY CREATE CROSS CUBE CURRENT_CATALOG CURRENT_DATE CURRENT_DATETIME
CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DATABASE DATE DATEMULTIRANGE DATERANGE
DATETIME DEC DECFLOAT DECIMAL DECLARE DEFAULT DELETE DESC DESCRIBE DISTINCT DIV DOUBLE DROP ELSE END ENUM
ESCAPE EXCEPT EXECUTE EXISTS EXPLAIN FALSE FETCH FILE FILTER FIRST FIXED FLOAT FOR FORMAT FROM FULL FUNCTION
GEOGRAPHY GEOMETRY GLOB GRANT HAVING HUGEINT ILIKE IN INDEX INET INNER INSERT INT INTEGER INTERSECT INTERVAL
INTO IS ISNULL JOIN JSON JSONB KEEP KILL LATERAL LEFT LIKE LIMIT LIST LOAD LOCALTIME LOCALTIMESTAMP LOCK LONG
LONGBLOB LONGTEXT LONGVARCHAR MAP MEDIUMBLOB MEDIUMINT MEDIUMTEXT MERGE MINUS NAMESPACE NATURAL NCHAR NEXT NOT
NOTNULL NOW NULL NULLABLE NUMBER NUMERIC NUMMULTIRANGE NUMRANGE NVARCHAR OBJECT OFFSET ON OPERATOR OPTIMIZE OR
ORDINALITY OUT OUTER OVER OVERLAPS OVERWRITE PARTITION PARTITIONED_BY PERCENT PIVOT PRAGMA PREPARE PROCEDURE
QUALIFY RANGE REAL RECURSIVE REF REFERENCES REFRESH REGEXP RELEASE RENAME REPLACE RETURNING REVOKE RIGHT RLIKE
ROLLBACK ROLLUP ROW ROWS SAVEPOINT SCHEMA SELECT SEMI SEQUENCE SERDEPROPERTIES SESSION SESSION_USER SET
SETTINGS SHORT SHOW SMALLINT SOME STR STRAIGHT_JOIN STRING STRUCT TABLE TABLESAMPLE TEMP TEMPORARY TEXT THEN
TIME TIMESTAMP TIMESTAMPLTZ TIMESTAMPNTZ TIMESTAMPTZ TIMESTAMP_LTZ TIMESTAMP_NTZ TIMETZ TIME_NS TINYBLOB
TINYINT TINYTEXT TRIGGER TRUE TRUNCATE TSMULTIRANGE TSRANGE TSTZMULTIRANGE TSTZRANGE UHUGEINT UINT UNCACHE
UNION UNIQUE UNKNOWN UNNEST UNPIVOT UPDATE USE USING UUID VACUUM VALUES VARBINARY VARCHAR VARIANT VECTOR VIEW
VOLATILE WHEN WHERE WINDOW WITH XOR
""".split())
_WORDS = {"AND", "OR", "NOT", "IS", "NULL", "TRUE", "FALSE", "IN", "BETWEEN"}  # the ones this parser reads

_TOKEN = re.compile(r"""
    \s+
  | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])
  | (?P<str>'(?:[^']|'')*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<quoted>`(?:[^`]|``)+`|"(?:[^"]|"")+")
  | (?P<op><=>|<=|>=|<>|!=|==|=|<|>|\(|\)|,|\.|-)
""", re.VERBOSE)
_CMP: dict[str, CmpOp] = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
                          "<=>": "<=>"}


class _Fallback(Exception):
    """The text is outside the fast path's subset: sqlglot parses it."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _Fallback
        pos = m.end()
        kind = m.lastgroup
        if kind is None:
            continue  # whitespace
        value = m.group(kind)
        if kind == "name":
            upper = value.upper()
            if upper in _WORDS:
                kind, value = "word", upper
            elif upper in RESERVED:
                raise _Fallback
        out.append((kind, value))
    return out


def parse(text: str) -> Expr | None:
    """The tree of ``text`` when it is in the fast path's subset (see the module docstring), else None."""
    try:
        parser = _Parser(_tokens(text))
        tree = _bare(parser.disjunction())
        if parser.pos != len(parser.toks):
            return None
        return tree
    except _Fallback:
        return None


class _Parser:
    def __init__(self, toks: list[tuple[str, str]]):
        self.toks = toks
        self.pos = 0
        self.chains: set[int] = set()  # ids of the AND/OR nodes built from a chain (not from BETWEEN)

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.toks[i] if i < len(self.toks) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v != value):
            raise _Fallback
        self.pos += 1
        return v

    def accept(self, kind: str, value: str) -> bool:
        if self.peek() == (kind, value):
            self.pos += 1
            return True
        return False

    def disjunction(self) -> Node:
        items = [self.conjunction()]
        while self.accept("word", "OR"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else self.chain(Or(tuple(self.flatten(items, Or))))

    def conjunction(self) -> Node:
        items = [self.negation()]
        while self.accept("word", "AND"):
            items.append(self.negation())
        return items[0] if len(items) == 1 else self.chain(And(tuple(self.flatten(items, And))))

    def chain(self, node: Expr) -> Expr:
        self.chains.add(id(node))
        return node

    def flatten(self, items: list[Node], cls: type) -> list[Expr]:
        """sqlglot flattens a parenthesized chain of the same operator (`(a AND b) AND c` is one AND of
        three), but not the AND that a BETWEEN stands for."""
        out: list[Expr] = []
        for item in items:
            inner = _bare(item)
            if isinstance(item, _Parenthesized) and isinstance(inner, cls) and id(inner) in self.chains:
                out.extend(inner.items)  # type: ignore[union-attr]  # an And or Or (isinstance above)
            else:
                out.append(inner)
        return out

    def negation(self) -> Node:
        if self.accept("word", "NOT"):
            return Not(_bare(self.negation()))
        return self.predicate()

    def predicate(self) -> Node:
        if self.accept("op", "("):
            inner = _bare(self.disjunction())
            self.take("op", ")")
            if self.peek()[0] == "op" and self.peek()[1] in _CMP or self.peek()[1] in ("IS", "IN", "BETWEEN"):
                raise _Fallback  # `(a) = 1`: rare, left to sqlglot
            if self.peek() == ("word", "NOT"):
                raise _Fallback
            return _Parenthesized(inner)
        item = self.operand()
        kind, value = self.peek()
        if kind == "op" and value in _CMP:
            self.pos += 1
            return Cmp(_CMP[value], item, self.operand())
        if (kind, value) == ("word", "IS"):
            self.pos += 1
            negated = self.accept("word", "NOT")
            k, v = self.peek()
            if (k, v) == ("word", "NULL"):
                self.pos += 1
                test: Expr = IsNull(item)
            elif (k, v) in (("word", "TRUE"), ("word", "FALSE")):
                self.pos += 1
                test = Cmp("<=>", item, Lit(v == "TRUE"))
            else:
                raise _Fallback
            return Not(test) if negated else test
        negated = False
        if (kind, value) == ("word", "NOT") and self.peek(1) in (("word", "IN"), ("word", "BETWEEN")):
            self.pos += 1
            negated = True
            kind, value = self.peek()
        if (kind, value) == ("word", "IN"):
            self.pos += 1
            self.take("op", "(")
            values = [self.literal()]
            while self.accept("op", ","):
                values.append(self.literal())
            self.take("op", ")")
            member: Expr = In(item, tuple(values))
            return Not(member) if negated else member
        if (kind, value) == ("word", "BETWEEN"):
            self.pos += 1
            low = self.operand()
            self.take("word", "AND")
            high = self.operand()
            between: Expr = And((Cmp(">=", item, low), Cmp("<=", item, high)))
            return Not(between) if negated else between
        if negated:
            raise _Fallback
        return item

    def literal(self) -> Lit:
        item = self.operand()
        if not isinstance(item, Lit):
            raise _Fallback  # a column in an IN list: sqlglot's error
        return item

    def operand(self) -> Expr:
        kind, value = self.peek()
        if kind == "op" and value == "-":
            self.pos += 1
            number = self.take("num")
            parsed = _number(number)
            return Lit(parsed.copy_negate() if isinstance(parsed, Decimal) else -parsed)
        self.pos += 1
        if kind == "num":
            return Lit(_number(value))
        if kind == "str":
            return Lit(value[1:-1].replace("''", "'"))
        if kind == "word" and value in ("NULL", "TRUE", "FALSE"):
            return Lit(None if value == "NULL" else value == "TRUE")
        if kind in ("name", "quoted"):
            parts = [_name(kind, value)]
            while self.peek() == ("op", "."):
                self.pos += 1
                k, v = self.peek()
                if k not in ("name", "quoted"):
                    raise _Fallback
                self.pos += 1
                parts.append(_name(k, v))
            if self.peek()[0] in ("str", "num") or self.peek() == ("op", "("):
                raise _Fallback  # a typed literal (X'01'), a function call
            return Col(tuple(parts))
        raise _Fallback


def _name(kind: str, value: str) -> str:
    if kind == "name":
        return value
    quote = value[0]
    return value[1:-1].replace(quote * 2, quote)


def _number(text: str) -> int | float | Decimal:
    # As expr_sql: digits are an integer, digits with a point a decimal, an exponent a double.
    try:
        return int(text)
    except ValueError:
        return float(text) if "e" in text.lower() else Decimal(text)


class _Parenthesized:
    """A parenthesized sub-expression while its chain is built (see `_Parser.flatten`)."""

    __slots__ = ("expr",)

    def __init__(self, expr: Expr):
        self.expr = expr


Node = Union[Expr, _Parenthesized]


def _bare(item: Node) -> Expr:
    return item.expr if isinstance(item, _Parenthesized) else item
