"""Reading one file of each format into Arrow batches, and inferring a schema from a file.

Compressed files (.gz, .zst, .bz2, .lz4) are decompressed on the fly by Arrow's input streams.
CSV and JSON Lines are read robustly: CSV columns arrive as text and JSON values in their JSON
types (`connectors.arrow`), and the engine casts them to the catalog's types, nulling and recording
each value that does not fit, instead of one odd line failing the whole file. Parquet batches keep
the types in the file.

A JSON value whose type changes within the inferred sample (`qty: 5` … `qty: "7.5"`) does not stop
inference: the column keeps the first type seen, and the engine nulls and records each value that
does not cast to it. A file that cannot be read at all (truncated compression, not JSON, a broken
CSV quote, not Parquet) raises `UnreadableFile` naming it, which fails only its stream.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from connectors.arrow import records_to_batch
from connectors.files.config import CsvOptions, Format
from protocol.errors import ConfigError, UnreadableFile

COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2", ".lz4": "lz4"}
FORMATS: dict[str, Format] = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl",
                              ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_SAMPLE_BYTES = 1 << 20
READ_ERRORS = (pa.ArrowException, OSError, EOFError, UnicodeDecodeError, orjson.JSONDecodeError)
"""What reading a damaged file raises (Arrow's parsers, the decompressors, decoding)."""


def compression_of(path: Path) -> str | None:
    return COMPRESSIONS.get(path.suffix.lower())


def format_of(path: Path) -> Format:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise ConfigError(f"cannot tell the format of {path.name}: set `format` (csv, jsonl or parquet)")
    return fmt


def _open(path: Path) -> pa.NativeFile:
    return pa.input_stream(str(path), compression=compression_of(path))


def _csv_options(options: CsvOptions, path: Path) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions]:
    tsv = ".tsv" in [s.lower() for s in path.suffixes]
    delimiter = "\t" if tsv and options.delimiter == "," else options.delimiter
    read = pacsv.ReadOptions(block_size=_SAMPLE_BYTES, encoding=options.encoding,
                             autogenerate_column_names=not options.header)
    parse = pacsv.ParseOptions(delimiter=delimiter, quote_char=options.quote_char, newlines_in_values=True)
    return read, parse


def infer_schema(path: Path, fmt: Format, options: CsvOptions) -> pa.Schema:
    """The schema of one file: Parquet's own metadata, or Arrow's inference over its first MiB."""
    if fmt == "parquet":
        return _parquet_file(path).schema_arrow
    if fmt == "csv":
        read, parse = _csv_options(options, path)
        convert = pacsv.ConvertOptions(null_values=options.null_values, strings_can_be_null=True)
        with _open(path) as stream:
            return pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert).schema
    with _open(path) as stream:
        sample = stream.read(_SAMPLE_BYTES)
    complete = sample[: sample.rfind(b"\n") + 1] or sample  # whole lines only
    if not complete.strip():
        return pa.schema([])
    try:
        return pajson.read_json(io.BytesIO(complete)).schema
    except pa.ArrowInvalid as exc:
        if "changed from" not in str(exc):
            raise
    return _infer_mixed_jsonl(path, complete)


def _infer_mixed_jsonl(path: Path, sample: bytes) -> pa.Schema:
    """Arrow's inference, column by column, over the values of each column's first JSON type.

    Arrow refuses a column whose JSON type changes; here a value of another type than the
    column's first non-null one is left out of inference (and cast, or nulled and recorded, by
    the engine). A column Arrow still cannot type (mixed nested shapes) is text.
    """
    firsts: dict[str, str] = {}
    columns: dict[str, list[bytes]] = {}
    for number, line in enumerate(sample.splitlines(), start=1):
        if not line.strip():
            continue
        record = _json_object(path, line, number)
        for key, value in record.items():
            if value is None:
                continue
            kind = _json_kind(value)
            if firsts.setdefault(key, kind) == kind:
                columns.setdefault(key, []).append(orjson.dumps({"v": value}))
    fields = []
    for key, lines in columns.items():
        try:
            fields.append(pa.field(key, pajson.read_json(io.BytesIO(b"\n".join(lines))).schema.field("v").type))
        except pa.ArrowInvalid:
            fields.append(pa.field(key, pa.string()))
    return pa.schema(fields)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"  # Arrow widens int to double by itself
    return type(value).__name__


def _json_object(path: Path, line: bytes, number: int) -> dict[str, object]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise UnreadableFile(path.name, f"not JSON: {exc}", line=number) from None
    if not isinstance(record, dict):
        raise UnreadableFile(path.name, "each line must be a JSON object", line=number)
    return record


def read_file(path: Path, fmt: Format, schema: pa.Schema, options: CsvOptions,
              columns: list[str] | None, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches of one file with the `columns` it has (None: all)."""
    if fmt == "parquet":
        parquet = _parquet_file(path)
        have = [c for c in columns if c in parquet.schema_arrow.names] if columns is not None else None
        yield from parquet.iter_batches(batch_size=batch_size, columns=have)
    elif fmt == "csv":
        yield from _read_csv(path, options, columns, batch_size)
    else:
        yield from _read_jsonl(path, schema, columns, batch_size)


def _parquet_file(path: Path) -> pq.ParquetFile:
    if compression_of(path) is None:
        return pq.ParquetFile(path)
    # Parquet needs random access: a compressed file is decompressed into memory first.
    with _open(path) as stream:
        return pq.ParquetFile(pa.BufferReader(stream.read()))


def _read_csv(path: Path, options: CsvOptions, columns: list[str] | None,
              batch_size: int) -> Iterator[pa.RecordBatch]:
    read, parse = _csv_options(options, path)
    with _open(path) as stream:
        # First pass over the header only: every column is read as text (see the module docstring).
        reader = pacsv.open_csv(stream, read_options=read, parse_options=parse)
        names = reader.schema.names
    include = [c for c in columns if c in names] if columns is not None else names
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, include_columns=include,
                                   null_values=options.null_values, strings_can_be_null=True)
    read = pacsv.ReadOptions(block_size=8 << 20, encoding=options.encoding,
                             autogenerate_column_names=not options.header)
    with _open(path) as stream:
        for batch in pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert):
            for start in range(0, batch.num_rows, batch_size):
                yield batch.slice(start, batch_size)


def _read_jsonl(path: Path, schema: pa.Schema, columns: list[str] | None,
                batch_size: int) -> Iterator[pa.RecordBatch]:
    target = pa.schema([f for f in schema if columns is None or f.name in columns])
    records: list[dict[str, object]] = []
    with _open(path) as stream:
        for number, line in enumerate(io.BufferedReader(stream, buffer_size=1 << 20), start=1):
            if not line.strip():
                continue
            records.append(_json_object(path, line, number))
            if len(records) >= batch_size:
                yield records_to_batch(records, target)
                records = []
    if records:
        yield records_to_batch(records, target)
