"""Pure logic of generated, identity and default column declarations (protocol/generated.py)."""

from __future__ import annotations

import pytest

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.generated import Identity, validate_declarations, with_high_water_marks
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType

TS, LONG, INT, DATE = (PrimitiveType(n) for n in ("timestamp", "long", "integer", "date"))


def _schema(*extra: StructField) -> StructType:
    return StructType((StructField("ts", TS), StructField("n", LONG)) + extra)


def test_valid_declarations_are_read() -> None:
    rules = validate_declarations(_schema(
        StructField("d", DATE, True, {"delta.generationExpression": "CAST(ts AS DATE)"}),
        StructField("id", LONG, True, {"delta.identity.start": 5, "delta.identity.step": -2,
                                       "delta.identity.allowExplicitInsert": True}),
        StructField("z", INT, True, {"CURRENT_DEFAULT": "7"})))
    assert list(rules.generated) == ["d"] and rules.defaults["z"][0] == "7"
    assert rules.identities["id"] == Identity("id", 5, -2, True, None)


@pytest.mark.parametrize("field, words", [
    (StructField("g", LONG, True, {"delta.generationExpression": "missing + 1"}), "unknown"),
    (StructField("g", LONG, True, {"delta.generationExpression": "rand()"}), "deterministic"),
    (StructField("g", DATE, True, {"delta.generationExpression": "n + 1"}), "cannot hold"),
    (StructField("g", LONG, True, {"delta.identity.step": 0}), "must not be 0"),
    (StructField("g", INT, True, {"delta.identity.start": 1}), "must have type long"),
    (StructField("g", LONG, True, {"CURRENT_DEFAULT": "n"}), "constant"),
])
def test_invalid_declarations_are_refused(field: StructField, words: str) -> None:
    with pytest.raises(InvalidArgumentError, match=words) as e:
        validate_declarations(_schema(field))
    assert "'g'" in str(e.value)


def test_generated_may_not_refer_to_generated() -> None:
    with pytest.raises(InvalidArgumentError, match="generated or identity"):
        validate_declarations(_schema(StructField("a", LONG, True, {"delta.generationExpression": "n + 1"}),
                                      StructField("b", LONG, True, {"delta.generationExpression": "a + 1"})))


def test_identity_values_and_marks() -> None:
    ident = Identity("id", 10, 5, False, None)
    assert ident.next_values(3) == ([10, 15, 20], 20)
    assert Identity("id", 10, 5, False, 20).next_values(2) == ([25, 30], 30)
    assert Identity("id", 0, -1, False, -3).next_values(1) == ([-4], -4)
    assert ident.next_values(0) == ([], None)
    # explicit values on the grid beyond the mark move it; off-grid or behind values do not
    assert Identity("id", 10, 5, True, 20).after_explicit([12, 15, 40]) == 40
    assert Identity("id", 10, 5, True, 20).after_explicit([12, 15]) == 20


def test_high_water_marks_recorded() -> None:
    s = _schema(StructField("id", LONG, True, {"delta.identity.start": 1}))
    out = with_high_water_marks(s, {"id": 9})
    assert out.field("id").metadata["delta.identity.highWaterMark"] == 9
    assert out.field("ts") == s.field("ts")
