"""Pure Delta protocol logic: actions, codecs, schema, replay, features. No I/O lives here.

Nothing in this package may import from `lakehouse.storage`, `lakehouse.log` or any module that touches
files or the network; `tests/test_layering.py` enforces it.
"""
