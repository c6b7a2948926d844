"""Tables read and written in chunks: CSV and Parquet, resumable outputs.

``predict`` and ``embed`` take their input a chunk of rows at a time
(:func:`table_chunks`), turn each chunk into output rows and append them to a
:class:`ChunkedOutput`, so that memory stays flat in the number of rows and a
killed run can be continued (``--resume``). The whole-table readers of
``fit`` and ``evaluate`` (:func:`~mmensemble.cli._main.read_table`) are the
same reader with one chunk.

An output being written lives in the folder ``<output>.partial/``: one file
per finished chunk (written atomically, in the output's format) and
``progress.json``, rewritten atomically after each chunk, which names the
job (a digest of the model file, the input file's path, size and
modification time, and the options) and lists the chunks done with their
row counts and sizes. A killed run leaves at most one chunk unlisted (a
stray temporary file, or a chunk file written but not yet listed); resuming
removes it and redoes those rows. When the last chunk is done the chunks
are joined into the output (atomically, as every file holding a user's work)
and the folder is removed.
"""

import hashlib
import json
import os
import shutil
import sys
from collections import deque

from .._atomic import atomic_write
from ..roles import REGISTRY
from ._errors import CommandError
from ._recipes import role_columns

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ChunkedOutput",
    "cluster_results",
    "count_rows",
    "file_digest",
    "file_identity",
    "resolve_media",
    "row_labelled",
    "stream_table",
    "table_chunks",
    "table_columns",
    "table_kind",
]

# Large enough that the per-chunk costs (a batch through each encoder, a
# chunk file, the progress record) are amortised, and an image network's
# batches stay full; small enough that a chunk of image or embedding rows
# (2,000 x 1,280 floats is 10 MB) is nothing next to the model, and that a
# killed run loses little.
DEFAULT_CHUNK_ROWS = 2000

_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_PROGRESS = "progress.json"


def table_kind(path):
    """``"csv"`` or ``"parquet"``, from the extension of ``path``."""
    kind = _KINDS.get(os.path.splitext(os.fspath(path))[1].lower())
    if kind is None:
        raise CommandError(
            f"{path}: unknown table format; name a CSV file (.csv) or a Parquet "
            "file (.parquet, .pq)"
        )
    return kind


def table_chunks(path, roles, *, target=None, chunk_rows=None, skip_rows=0):
    """Read a CSV or Parquet table for a model with the given column roles.

    Only missing cells are missing: empty CSV cells, Parquet nulls (a text
    such as ``"NA"`` stays a text). Media cells naming files are taken
    relative to the table's folder and made absolute. The cells of the roles
    that hold strings are strings (Python objects), whatever the file's type.

    Parameters
    ----------
    path : str
        The table, ``.csv`` or ``.parquet``.
    roles : dict of str to str or list of str
        Column(s) of each role; they must all be in the file.
    target : str, default=None
        The target column, which must be in the file too when given.
    chunk_rows : int, default=None
        Rows per chunk; None reads the whole table as one chunk.
    skip_rows : int, default=0
        Leading rows not to yield (they are read and dropped).

    Yields
    ------
    chunk : DataFrame
        Consecutive rows; the index numbers them from 0 at the table's first
        row, across chunks.
    """
    kind = table_kind(path)
    table_columns(path, roles, target=target)
    strings = [
        column for role, column in role_columns(roles) if REGISTRY[role].string_cells
    ]
    folder = os.path.dirname(os.path.abspath(path))
    what = "a CSV file" if kind == "csv" else "a Parquet file"
    try:
        chunks = (_csv_chunks if kind == "csv" else _parquet_chunks)(
            path, strings, chunk_rows
        )
        start = 0
        for chunk in chunks:
            end = start + len(chunk)
            if end > skip_rows:
                chunk = chunk.iloc[max(skip_rows - start, 0) :]
                yield resolve_media(chunk, roles, folder)
            start = end
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, CommandError):
            raise
        raise CommandError(f"cannot read {path} as {what}: {exc}") from exc


def table_columns(path, roles=None, *, target=None):
    """The column names of a CSV or Parquet table, checked against ``roles``.

    Parameters
    ----------
    path : str
        The table, ``.csv`` or ``.parquet``.
    roles : dict of str to str or list of str, default=None
        Column(s) of each role, which must all be in the file.
    target : str, default=None
        A column which must be in the file too.

    Returns
    -------
    columns : list of str
    """
    kind = table_kind(path)
    if not os.path.isfile(path):
        what = "a folder, not a file" if os.path.isdir(path) else "no such file"
        raise CommandError(f"cannot read {path}: {what}")
    try:
        if kind == "csv":
            import pandas as pd

            header = list(pd.read_csv(path, nrows=0).columns)
        else:
            import pyarrow.parquet as pq

            header = list(pq.read_schema(path).names)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        what = "a CSV file" if kind == "csv" else "a Parquet file"
        raise CommandError(f"cannot read {path} as {what}: {exc}") from exc
    wanted = list(role_columns(roles or {}))
    if target is not None:
        wanted.append(("target", target))
    missing = [(role, column) for role, column in wanted if column not in header]
    if missing:
        named = ", ".join(f"{column!r} (--{role})" for role, column in missing)
        raise CommandError(f"{path} has no column {named}; its columns are {header!r}")
    return header


def _csv_chunks(path, strings, chunk_rows):
    import pandas as pd

    options = {
        "keep_default_na": False,
        "na_values": [""],
        "dtype": dict.fromkeys(strings, object),
    }
    if chunk_rows is None:
        yield pd.read_csv(path, **options)
        return
    with pd.read_csv(path, chunksize=chunk_rows, **options) as reader:
        yield from reader


def _parquet_chunks(path, strings, chunk_rows):
    import pandas as pd
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    batches = (
        file.iter_batches(batch_size=chunk_rows)
        if chunk_rows is not None
        else [file.read()]
    )
    start = 0
    for batch in batches:
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        for column in strings:
            frame[column] = frame[column].astype(object).map(_as_string_cell)
        yield frame


def _as_string_cell(cell):
    """A Parquet number in a string role as the text a CSV file would hold."""
    import pandas as pd

    if isinstance(cell, str | bytes) or pd.isna(cell):
        return cell
    return str(cell)


def resolve_media(frame, roles, folder):
    """Make the file paths of the media columns absolute, relative to ``folder``.

    Parameters
    ----------
    frame : DataFrame
        Rows holding the role columns; changed in place.
    roles : dict of str to str or list of str
        Column(s) of each role.
    folder : str
        The folder relative paths are taken from.

    Returns
    -------
    frame : DataFrame
    """
    for role, column in role_columns(roles):
        if REGISTRY[role].media:
            frame[column] = frame[column].map(
                lambda cell: (
                    os.path.join(folder, cell) if isinstance(cell, str) else cell
                )
            )
    return frame


def count_rows(path):
    """The number of rows of a Parquet table (from its footer); None for CSV."""
    if table_kind(path) != "parquet":
        return None
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError):
        return None  # table_chunks says what is wrong with the file


def row_labelled(table):
    """``table`` with its row numbers as a first column ``row`` (unless ``id``)."""
    if "id" in table.columns:
        return table.reset_index(drop=True)
    return table.rename_axis("row").reset_index()


def file_identity(path):
    """Absolute path, size and modification time of a file, for a job's key."""
    status = os.stat(path)
    return [os.path.abspath(path), status.st_size, status.st_mtime_ns]


def file_digest(path):
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


class ChunkedOutput:
    """An output table appended a chunk at a time, resumable after a kill.

    Parameters
    ----------
    path : str
        The final ``.csv`` or ``.parquet`` file; it appears, atomically, only
        when :meth:`finish` is called.
    job : dict
        What makes the rows (JSON values: model digest, input identity,
        options); a run resumes only an output of the same job.
    resume : bool
        Continue the unfinished output of an earlier run of the same job;
        otherwise an unfinished output is discarded.

    Attributes
    ----------
    rows_done : int
        Rows already in the output (those of the chunks an earlier run
        finished, when resuming).
    """

    def __init__(self, path, job, *, resume):
        self.path = path
        self.kind = table_kind(path)
        self.folder = f"{path}.partial"
        self._key = hashlib.sha256(
            json.dumps(job, sort_keys=True).encode("utf-8")
        ).hexdigest()
        self._chunks = []
        self._schema = None
        if resume and os.path.isdir(self.folder):
            self._chunks = self._finished_chunks()
        else:
            if os.path.isdir(self.folder):
                print(
                    f"discarding the unfinished {self.folder} of an earlier run "
                    "(--resume continues it)",
                    file=sys.stderr,
                )
                shutil.rmtree(self.folder)
            os.makedirs(self.folder)
            self._record()
        self.rows_done = sum(chunk["rows"] for chunk in self._chunks)

    def _finished_chunks(self):
        """The chunks of the earlier run; drop what it left half-done."""
        try:
            with open(os.path.join(self.folder, _PROGRESS), encoding="utf-8") as file:
                progress = json.load(file)
            chunks, key = progress["chunks"], progress["job"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CommandError(
                f"cannot resume {self.path}: {self.folder}/{_PROGRESS} is unreadable "
                f"({exc}); run without --resume to start over"
            ) from exc
        if key != self._key:
            raise CommandError(
                f"cannot resume {self.path}: {self.folder} was written for another "
                "model, input file or options; run with the same ones, or without "
                "--resume to start over"
            )
        for chunk in chunks:
            chunk_path = os.path.join(self.folder, chunk["file"])
            if (
                not os.path.isfile(chunk_path)
                or os.path.getsize(chunk_path) != chunk["bytes"]
            ):
                raise CommandError(
                    f"cannot resume {self.path}: the finished chunk {chunk_path} is "
                    "missing or damaged; run without --resume to start over"
                )
        listed = {chunk["file"] for chunk in chunks} | {_PROGRESS}
        for name in os.listdir(self.folder):
            if name not in listed:  # the chunk a killed run was writing
                os.remove(os.path.join(self.folder, name))
        return chunks

    def _record(self):
        progress = {"job": self._key, "chunks": self._chunks}
        with atomic_write(
            os.path.join(self.folder, _PROGRESS), "w", encoding="utf-8"
        ) as file:
            json.dump(progress, file)

    def write(self, table):
        """Append the rows of ``table`` (a DataFrame, columns as the first chunk's)."""
        name = f"{len(self._chunks):06d}.{self.kind}"
        chunk_path = os.path.join(self.folder, name)
        if self.kind == "csv":
            with atomic_write(chunk_path, "w", encoding="utf-8", newline="") as file:
                table.to_csv(file, index=False, header=not self._chunks)
        else:
            with atomic_write(chunk_path) as file:
                self._write_parquet(table, file)
        self._chunks.append(
            {"file": name, "rows": len(table), "bytes": os.path.getsize(chunk_path)}
        )
        self._record()
        self.rows_done += len(table)

    def _write_parquet(self, table, file):
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pandas(table, preserve_index=False)
        arrow = arrow.replace_schema_metadata()
        if self._schema is None and self._chunks:
            self._schema = self._joined_schema()
        if self._schema is not None:
            self._schema = self._join(self._schema, arrow.schema)
        else:
            self._schema = arrow.schema
        pq.write_table(arrow, file)

    def _join(self, schema, other):
        """One schema for the chunks of ``schema`` and a chunk of ``other``.

        A column all missing in some chunks takes the type of the others;
        integers meeting floats become floats; other mismatches are errors.
        """
        import pyarrow as pa

        if other.names != schema.names:
            raise CommandError(
                f"a chunk of {self.path} has the columns {other.names!r}, the "
                f"first one {schema.names!r}"
            )
        try:
            return pa.unify_schemas([schema, other], promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            raise CommandError(
                f"a chunk cannot go into {self.path} with the column types of the "
                f"chunks before it: {exc}"
            ) from exc

    def _joined_schema(self):
        """The schema of all the chunk files written (see :meth:`_join`)."""
        import pyarrow.parquet as pq

        schema = None
        for chunk in self._chunks:
            other = pq.read_schema(os.path.join(self.folder, chunk["file"]))
            schema = other if schema is None else self._join(schema, other)
        return schema

    def finish(self):
        """Join the chunks into the output file and remove the partial folder."""
        chunk_paths = [
            os.path.join(self.folder, chunk["file"]) for chunk in self._chunks
        ]
        with atomic_write(self.path) as out:
            if self.kind == "csv":
                for chunk_path in chunk_paths:
                    with open(chunk_path, "rb") as file:
                        shutil.copyfileobj(file, out)
            elif chunk_paths:
                import pyarrow.parquet as pq

                schema = self._joined_schema()
                with pq.ParquetWriter(out, schema) as writer:
                    for chunk_path in chunk_paths:
                        writer.write_table(pq.read_table(chunk_path).cast(schema))
        shutil.rmtree(self.folder)


def stream_table(results, output, *, total=None):
    """Write each table of ``results`` to ``output``, with a progress bar.

    Parameters
    ----------
    results : iterable of DataFrame
        The output rows of each chunk, in order.
    output : ChunkedOutput
        Where they go; finished when ``results`` is exhausted.
    total : int, default=None
        Rows the input holds, when known (the bar then shows the fraction).

    Returns
    -------
    rows : int
        Rows in the finished output.
    """
    from tqdm.auto import tqdm

    with tqdm(
        total=total,
        initial=output.rows_done,
        unit="rows",
        file=sys.stderr,
        disable=None,
        dynamic_ncols=True,
    ) as bar:
        for table in results:
            output.write(row_labelled(table))
            bar.update(len(table))
    output.finish()
    return output.rows_done


def cluster_results(client, function, chunks, arguments=(), *, window):
    """Run ``function(*arguments, chunk)`` on a Dask cluster; yield results in order.

    At most ``window`` chunks are in flight (submitted, not yet yielded), so
    the caller's memory stays flat however long ``chunks`` is. A task whose
    worker dies is run again on another one (up to the scheduler's
    ``distributed.scheduler.allowed-failures``, then ``KilledWorker``); an
    error raised by ``function`` is raised here.

    Parameters
    ----------
    client : distributed.Client
    function : callable
        Takes ``arguments`` and one chunk; picklable.
    chunks : iterable of DataFrame
    arguments : sequence, default=()
        The leading arguments of every call (objects or Dask futures).
    window : int
        Tasks in flight at most.

    Yields
    ------
    result : object
        ``function(*arguments, chunk)``, in the order of ``chunks``.
    """
    pending = deque()
    for chunk in chunks:
        pending.append(client.submit(function, *arguments, chunk, pure=False))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
