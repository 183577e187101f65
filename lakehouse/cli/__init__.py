"""`lakehouse`: the command line for inspecting and maintaining Delta tables (issue #6).

Commands (each takes the table URI first; run ``lakehouse COMMAND --help`` for the options):

    describe    table detail: version, size, files, rows, protocol, features, properties
    history     commits, newest first
    files       active data files
    schema      columns (with physical names and ids under column mapping)
    scan        rows, optionally filtered by SQL
    cdf         the change data feed of a version range
    optimize    compact small files or Z-order them
    vacuum      list (dry run, the default) or delete (--yes) unreferenced files
    restore     make the latest version equal an older one
    checkpoint  write a checkpoint
    cleanup     delete expired log files
    convert     CONVERT TO DELTA: a Parquet folder becomes a table in place
    properties  list, set or unset table properties
    verify      fsck: check the log, checkpoints, data files and deletion vectors
    share serve run a Delta Sharing server from a YAML config (needs the `sharing` extra)

Options every command takes:

    --json                   machine-readable output on stdout: one JSON document (an object; an array for
                             history, files and schema) whose keys are stable, or JSON Lines (one object per
                             row) for scan and cdf. Dates and times are ISO-8601 strings, decimals strings,
                             binary base64, NaN/Infinity the strings "NaN"/"Infinity"/"-Infinity".
    --storage-option K=V     one storage option (repeatable): fsspec/s3fs keys or the delta-rs keys
                             (AWS_ENDPOINT_URL, AWS_REGION, ...; spec/storage.md); values that are JSON
                             objects, arrays, true, false or null are parsed, anything else is a string.
    --debug                  print the traceback of an error.

Exit codes:

    0  success.
    1  the command ran and found or caused a failure: verify found a problem, a commit lost to a
       concurrent writer (CommitError), storage failed (StorageError), a file the log names is missing
       (DataFileNotFoundError), the log is damaged (InvalidLogError), the table needs a feature lakehouse
       lacks (UnsupportedFeatureError), rows broke a constraint, or an unexpected error.
    2  bad usage or input: click's usage errors (unknown option, bad KEY=VALUE, a malformed number or
       time), no table at the URI (TableNotFoundError), a version or time outside the history
       (VersionNotFoundError), an argument the operation refuses (InvalidArgumentError, e.g. a retention
       below the table's minimum or an unknown column in --filter), or an unknown column
       (SchemaMismatchError).

Errors print one line ``error: <message>`` on stderr, followed by the message's ``Help:`` line when it
has one; ``--debug`` adds the traceback. Human-readable output is drawn by rich, which emits no colour
codes when stdout is not a terminal; progress bars go to stderr and only when it is a terminal.

Options of the long commands (optimize, vacuum, convert, verify):

    --no-progress            draw no progress bar (by default one is drawn on stderr when it is a terminal).

This package uses only the public API: names exported by `lakehouse` (`DeltaTable`, `verify_table`,
`type_to_json`, `Progress`, ...), `lakehouse.errors`, and `lakehouse.integrations.sharing` for `share
serve` (checked by tests/test_layering.py). It is the top layer: nothing in `lakehouse` imports it.
"""

from __future__ import annotations

import click

from lakehouse import __version__
from lakehouse.cli import inspection, maintenance, manage, rows, share


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="lakehouse")
def main() -> None:
    """Inspect and maintain Delta tables (local paths, file://, memory:// and s3:// URIs).

    Exit codes: 0 success, 1 the operation found or caused a failure (verify found damage, a commit
    conflict, storage errors), 2 bad usage or input (no table at the URI, unknown column, bad option).
    """


for _command in (inspection.describe, inspection.history, inspection.files, inspection.schema, rows.scan,
                 rows.cdf, maintenance.optimize, maintenance.vacuum, maintenance.restore, maintenance.checkpoint,
                 maintenance.cleanup, maintenance.convert, manage.properties, manage.verify):
    main.add_command(_command)
main.add_command(share.share)

__all__ = ["main"]
