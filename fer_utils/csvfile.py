"""Parse the CSV forms of FER2013 (Kaggle fer2013.csv, ML2017 train.csv/test.csv; gzipped or not) with numpy.

``read_header`` tells the form from the first line; ``parse`` turns the whole file into the arrays of a
``fer_utils.data.Dataset``. Lines are parsed in chunks of ~512 KB of whole lines, on every core, while a thread
gunzips ahead; every error names the file and the first bad line of the file (``DataError``).
"""

import collections
import concurrent.futures
import contextlib
import difflib
import os
import sys

import numpy as np
from tqdm import tqdm

try:  # ISA-L inflates ~1.6x faster than zlib (a pinned dependency; zlib when it is missing, e.g. under conda)
    from isal import isal_zlib as inflate
except ImportError:  # pragma: no cover
    import zlib as inflate

from fer_utils import CLASS_NAMES, IMAGE_SIZE, NUM_PIXELS
from fer_utils.errors import DataError

#: The CSV header of each form (matched case-insensitively, in any column order).
HEADERS = {
    "fer2013": ("emotion", "pixels", "Usage"),
    "ml2017-train": ("label", "feature"),
    "ml2017-test": ("id", "feature"),
}
_FORM_NAMES = {"fer2013": "Kaggle fer2013.csv", "ml2017-train": "ML2017 train.csv", "ml2017-test": "ML2017 test.csv"}
_USAGES = ("Training", "PublicTest", "PrivateTest")  # the values of the Kaggle Usage column
_CHUNK_BYTES = 1 << 19  # parse ~512 KB of text at a time: the working arrays stay in the CPU caches
_PAD = 3  # spaces put before each chunk: no number ends in its first 3 bytes, so look-behinds stay inside
SPACE, NEWLINE, COMMA, QUOTE, RETURN = b" \n,\"\r"


def read_header(raw, source):
    """Detect the CSV form from the first line.

    Args:
        raw: the file's bytes, gzipped or not.
        source: the file's path, for messages.
    Returns:
        (form, columns): a key of HEADERS and the header's column names as written, in file order.
    Raises:
        DataError: a zip archive, corrupt or truncated gzip data, an empty file, or a header of no known form
        (the message names line 1, the closest form's missing and unexpected columns, and likely typos).
    """
    if raw.startswith(b"PK\x03\x04"):
        raise DataError(f"{source}: is a zip archive; unzip it and pass the CSV file or the image folder")
    head = raw[:1 << 16]
    if raw[:2] == b"\x1f\x8b":
        try:
            decompressor = inflate.decompressobj(wbits=31)
            head = decompressor.decompress(head, 1 << 16)
        except inflate.error as error:
            raise DataError(f"{source}: corrupt gzip data ({error})") from None
        if b"\n" not in head and len(raw) <= 1 << 16 and not decompressor.eof:
            raise DataError(f"{source}: the gzip data is truncated")
    if not head.strip():
        raise DataError(f"{source}, line 1: the file is empty; expected a header line such as 'label,feature'")
    header = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").strip()
    columns = tuple(column.strip().strip('"') for column in header.split(","))
    found = [column.lower() for column in columns]
    for form, expected in HEADERS.items():
        if sorted(found) == sorted(column.lower() for column in expected):
            return form, columns
    raise _unrecognised_header(source, header, columns)


def _unrecognised_header(source, header, columns):
    """The DataError for a header of no known form: what the closest form misses or has extra, and typos."""
    found = [column.lower() for column in columns]
    closest = max(HEADERS, key=lambda form: len(set(found) & {column.lower() for column in HEADERS[form]}))
    expected = [column.lower() for column in HEADERS[closest]]
    extra = {column.lower(): column for column in columns if column.lower() not in expected}
    hints = []
    for column in HEADERS[closest]:
        if column.lower() not in found:
            typo = difflib.get_close_matches(column.lower(), list(extra), n=1, cutoff=0.5)
            hints.append(f"missing column '{column}'" + (f" (is '{extra.pop(typo[0])}' a typo?)" if typo else ""))
    hints += [f"unexpected column '{column}'" for column in extra.values()]
    if not set(found) & set(expected) and "typo" not in "".join(hints):
        hints = ["no known column names (is the header missing?)"]
    forms = ", ".join(f"'{','.join(columns)}' ({_FORM_NAMES[form]})" for form, columns in HEADERS.items())
    return DataError(f"{source}, line 1: unrecognised header {header[:80]!r}: {'; '.join(hints)}; "
                     f"expected one of {forms}")


def parse(raw, source, form, columns, progress):
    """Parse a whole CSV file, line by line in chunks of whole lines.

    Args:
        raw: the file's bytes, gzipped or not.
        source: the file's path, for messages and the progress bar.
        form, columns: what ``read_header`` returned for raw.
        progress: show a tqdm progress bar on stderr (after a second).
    Returns:
        The arrays of a Dataset: "x" (N, 48, 48, 1) uint8, "y" (N,) int64 (-1 for ML2017 test.csv),
        "usage" (N,) str ("Training" for ML2017 train.csv, "Test" for test.csv), "ids" (N,) int64 (the id
        column, else the 0-based row), "paths" (N,) "", and "resized_count" 0, "first_resized" "",
        "skipped" (0,) as for image folders.
    Raises:
        DataError: the first bad line of the file (its number, the field or value and what was expected), a
        repeated id, no data rows, or bad gzip data.
    """
    names = [column.lower() for column in columns]
    pixel_column = names.index("pixels" if form == "fer2013" else "feature")
    parts, pending, next_line = [], collections.deque(), 1  # next_line: 1-based number of the next line to parse
    bar = tqdm(total=len(raw), unit="B", unit_scale=True, desc=f"parsing {source.name}", file=sys.stderr,
               disable=not progress, delay=1.0)
    # numpy releases the GIL on big arrays: chunks are parsed on every core while a thread gunzips ahead;
    # results are taken in file order, so the first bad line of the file is the error raised
    workers = os.cpu_count() or 1

    def collect(ready):
        """Move parsed chunks from the front of the queue into parts while ready(); on an error cancel the rest."""
        while pending and ready():
            future, offset, text, first_line = pending.popleft()
            try:
                parts.append(future.result())
            except DataError as error:
                for later, *_ in pending:
                    later.cancel()
                if "id" in names and getattr(error, "line", None):  # an id repeated above the bad line comes first
                    rows_above = text[:_line_start(text, error.line - first_line)]
                    above = [_parse_lines(rows_above, first_line, columns, pixel_column, source)] if rows_above else []
                    _check_unique_ids(np.concatenate([part["id"] for part in parts + above] or [[]]), source)
                raise
            bar.update(offset - bar.n)

    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="parse")
    with bar, pool, contextlib.closing(_line_chunks(raw, source)) as chunks:
        for text, raw_offset in chunks:
            if next_line == 1:  # the header was read already
                text = text[text.find(b"\n") + 1:]
                next_line = 2
            if text:
                pending.append((pool.submit(_parse_lines, text, next_line, columns, pixel_column, source), raw_offset,
                                text, next_line))
                next_line += text.count(b"\n")
            collect(lambda: pending[0][0].done() or len(pending) > 2 * workers)
        collect(lambda: True)
    if not parts:
        raise DataError(f"{source}, line 2: no data rows after the header {','.join(columns)!r}")
    return _dataset_arrays(form, {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}, source)


def _dataset_arrays(form, fields, source):
    """The Dataset arrays of the parsed columns (``_parse_lines`` results joined); DataError for a repeated id."""
    count = len(fields["x"])
    ids = fields.get("id", np.arange(count, dtype=np.int64))
    _check_unique_ids(ids, source)
    labels = fields.get("emotion", fields.get("label"))
    return {"x": fields["x"].reshape(count, IMAGE_SIZE, IMAGE_SIZE, 1),
            "y": labels if labels is not None else np.full(count, -1, np.int64),
            "usage": fields.get("usage", np.full(count, "Test" if form == "ml2017-test" else "Training", "<U11")),
            "ids": ids, "paths": np.full(count, "", "<U1"), "resized_count": 0, "first_resized": "",
            "skipped": np.zeros(0, "<U1")}


def _check_unique_ids(ids, source):
    """Raise DataError naming the first data line (line 2 = row 0) whose id repeats an earlier line's id."""
    order = np.argsort(ids, kind="stable")
    repeated = np.flatnonzero(ids[order][1:] == ids[order][:-1])  # later rows that repeat an id
    if len(repeated):
        row = order[1:][repeated].min()
        first = np.flatnonzero(ids == ids[row])[0]
        raise DataError(f"{source}, line {row + 2}: id {ids[row]} repeats the id of line {first + 2}; "
                        "ids must be unique")


def _line_start(text, index):
    """The byte offset where the 0-based line `index` of text starts."""
    return 0 if index <= 0 else int(np.flatnonzero(np.frombuffer(text, np.uint8) == NEWLINE)[index - 1]) + 1


def _quote(content, limit=80):
    """A bad field for an error message: repr of its text, cut to `limit` bytes with "…" and its length."""
    text = repr(bytes(content[:limit]).decode("utf-8", "replace"))
    return text if len(content) <= limit else f"{text}… ({len(content):,} bytes)"


def _line_chunks(raw, source):
    """Yield (text of whole lines each ending in "\\n", raw bytes consumed so far); gunzips ahead in a thread."""
    if raw[:2] != b"\x1f\x8b":
        yield from _whole_lines((raw[start:start + _CHUNK_BYTES], min(start + _CHUNK_BYTES, len(raw)))
                                for start in range(0, len(raw), _CHUNK_BYTES))
        return
    chunks = _whole_lines(_gunzip(raw, source))
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="gunzip")  # runs the next() calls in order
    try:  # inflating releases the GIL: a few chunks are gunzipped ahead while the caller parses
        ahead = collections.deque(pool.submit(next, chunks, None) for _ in range(8))
        while (chunk := ahead.popleft().result()) is not None:
            ahead.append(pool.submit(next, chunks, None))
            yield chunk
    finally:
        pool.shutdown(cancel_futures=True)


def _gunzip(raw, source):
    """Yield (decompressed bytes, compressed bytes consumed) for a gzip file of one or more members."""
    view, start, step = memoryview(raw), 0, _CHUNK_BYTES // 4  # FER2013 text compresses about 3:1
    try:
        while start < len(raw):
            decompressor = inflate.decompressobj(wbits=31)
            while start < len(raw) and not decompressor.eof:
                piece = decompressor.decompress(view[start:start + step])
                start = min(start + step, len(raw))
                yield piece, start
            if not decompressor.eof:
                raise DataError(f"{source}: the gzip data is truncated")
            start -= len(decompressor.unused_data)
            if not raw[start:].strip(b"\0"):
                return
            if raw[start:start + 2] != b"\x1f\x8b":  # not another gzip member
                raise DataError(f"{source}: {len(raw) - start:,} bytes of trailing data after the gzip stream "
                                f"(from byte {start:,}); the file was damaged or appended to: compress the CSV again")
    except inflate.error as error:
        raise DataError(f"{source}: corrupt gzip data ({error})") from None


def _whole_lines(pieces):
    """Regroup text pieces into chunks of whole lines, one per piece; blank lines at the very end are dropped."""
    pending, offset = b"", 0  # a line continued in the next piece
    for piece, offset in pieces:
        end = len(piece)
        while end and piece[end - 1] in b"\r\n":  # trailing blank lines wait for more text (or the end)
            end -= 1
        cut = piece.rfind(b"\n", 0, end) + 1
        if cut:
            yield b"".join((pending, memoryview(piece)[:cut])), offset
            pending = piece[cut:]
        else:
            pending += piece
    pending = pending.rstrip(b"\r\n")
    if pending:
        yield pending + b"\n", offset


def _parse_lines(text, first_line, columns, pixel_column, source):
    """Parse whole CSV lines with numpy; raise DataError for the first bad line.

    Args:
        text: bytes of L lines, each ending in "\\n".
        first_line: the 1-based file line number of the first line.
    Returns:
        {"x": (L, 2304) uint8, and "emotion"/"label" (L,) int64, "id" (L,) int64, "usage" (L,) str as present}.
    """
    buffer = np.frombuffer(text, np.uint8)  # (B,)
    line_ends = np.flatnonzero(buffer == NEWLINE)  # (L,) position of each "\n"
    line_starts = np.concatenate(([0], line_ends[:-1] + 1))  # (L,)
    line_stops = line_ends - ((line_ends > line_starts) & (buffer[line_ends - 1] == RETURN))  # (L,) before "\r\n"

    def fail(row, message):
        error = DataError(f"{source}, line {first_line + row}: {message}")
        error.line = first_line + row
        raise error

    header = ",".join(columns)
    commas = np.flatnonzero(buffer == COMMA)  # (C,)
    fields_found = np.diff(np.searchsorted(commas, line_ends), prepend=0) + 1  # (L,)
    wrong = (line_stops == line_starts) | (fields_found != len(columns))  # (L,)
    if wrong.any():
        row = np.argmax(wrong)
        if row:  # the lines above may hold another kind of error: the first bad line of the file is the one named
            _parse_lines(text[:line_starts[row]], first_line, columns, pixel_column, source)
        found = "an empty line" if line_stops[row] == line_starts[row] else f"{fields_found[row]} fields"
        fail(row, f"found {found}, expected {len(columns)} comma-separated fields ({header})")
    field_starts = np.column_stack([line_starts, commas.reshape(len(line_ends), -1) + 1])  # (L, F)
    field_stops = np.column_stack([commas.reshape(len(line_ends), -1), line_stops])  # (L, F)
    quoted = ((field_stops - field_starts >= 2) & (buffer[field_starts] == QUOTE)
              & (buffer[field_stops - 1] == QUOTE))  # (L, F) drop one pair of surrounding double quotes
    field_starts, field_stops = field_starts + quoted, field_stops - quoted

    def field_text(row, column):
        return _quote(memoryview(text)[field_starts[row, column]:field_stops[row, column]])

    problems = []  # (row, message) of the first bad row per check; the earliest is raised
    result = {}
    for column, name in enumerate(columns):
        if column == pixel_column:
            continue
        values = _field_values(buffer, field_starts[:, column], field_stops[:, column])  # (L,) bytes
        key = name.lower()
        if key in ("emotion", "label"):
            valid = np.isin(values, [str(label).encode() for label in range(len(CLASS_NAMES))])
            result[key] = values.astype(np.int64) if valid.all() else None
            expected = f"a class index 0-6 ({', '.join(f'{i} {c}' for i, c in enumerate(CLASS_NAMES))})"
        elif key == "id":
            valid = np.char.isdigit(values) & (np.char.str_len(values) <= 18)
            result[key] = values.astype(np.int64) if valid.all() else None
            expected = "a non-negative integer"
        else:
            valid = np.isin(values, [usage.encode() for usage in _USAGES])
            result[key] = values.astype("<U11") if valid.all() else None
            expected = f"one of {', '.join(_USAGES)}"
        if not valid.all():
            row = np.argmin(valid)
            problems.append((row, f"{name} {field_text(row, column)} is not {expected}"))

    pixel_starts, pixel_stops = field_starts[:, pixel_column] + _PAD, field_stops[:, pixel_column] + _PAD  # (L,)
    pixels_name = columns[pixel_column]

    def bad_token(position):
        row = np.searchsorted(line_ends, position - _PAD)
        start, stop = pixel_starts[row] - _PAD, pixel_stops[row] - _PAD
        token_start = max(text.rfind(b" ", start, position - _PAD + 1) + 1, start)
        token_stop = text.find(b" ", position - _PAD, stop)
        token_stop = stop if token_stop < 0 else token_stop
        index = len(text[start:token_start].split()) + 1
        token = _quote(memoryview(text)[token_start:token_stop])
        problems.append((row, f"{pixels_name} value {index} is {token}, expected an integer 0-255 "
                              "(values separated by spaces)"))

    # Keep only the pixel fields: everything else becomes a space. (B + PAD + 1,) bytes
    work = np.empty(len(buffer) + _PAD + 1, np.uint8)
    work[:_PAD], work[_PAD:-1], work[-1] = SPACE, buffer, SPACE
    work[_concatenated_ranges(np.concatenate(([0], pixel_stops)), np.concatenate((pixel_starts, [len(work)])))] = SPACE
    digits = work - ord("0")  # (B',) digit values; any other byte wraps to >= 10
    is_digit = digits < 10
    if np.count_nonzero(is_digit) + np.count_nonzero(work == SPACE) != len(work):
        bad_token(np.argmax(~is_digit & (work != SPACE)))
    token_ends = np.flatnonzero(is_digit[:-1] > is_digit[1:])  # (T,) last digit of every number
    counts = np.diff(np.append(np.searchsorted(token_ends, pixel_starts), len(token_ends)))  # (L,)
    if (counts != NUM_PIXELS).any():
        row = np.argmax(counts != NUM_PIXELS)
        problems.append((row, f"found {counts[row]} values in {pixels_name}, expected {NUM_PIXELS} "
                              f"({IMAGE_SIZE}x{IMAGE_SIZE})"))
    digits *= is_digit  # separators count as 0
    tens_and_ones, hundreds = np.empty_like(digits), np.empty_like(digits)  # (B',) of the number ending here
    tens_and_ones[0], hundreds[:2] = 0, 0  # never a number's end: the chunk starts with _PAD spaces
    np.add(digits[:-1] * 10, digits[1:], out=tens_and_ones[1:])
    np.multiply(digits[:-2], is_digit[1:-1], out=hundreds[2:])
    values = hundreds.take(token_ends).astype(np.uint16) * 100 + tens_and_ones.take(token_ends)  # (T,)
    two_digits = is_digit[:-1] & is_digit[1:]  # (B'-1,)
    four_digits = two_digits[:-2] & two_digits[2:]  # (B'-3,) True where 4 digits in a row start
    if four_digits.any():
        bad_token(np.argmax(four_digits))
    if values.max(initial=0) > 255:
        bad_token(token_ends[np.argmax(values > 255)])
    if problems:
        fail(*min(problems, key=lambda problem: problem[0]))
    result["x"] = values.astype(np.uint8).reshape(len(line_ends), NUM_PIXELS)
    return result


def _field_values(buffer, starts, stops, max_width=24):
    """The fields [starts, stops) of buffer as a (L,) bytes array; a field over max_width is cut to b"" + junk."""
    widths = stops - starts
    width = int(min(max(widths.max(initial=1), 1), max_width))
    index = starts[:, None] + np.arange(width)  # (L, W)
    inside = (np.arange(width) < widths[:, None]) & (widths[:, None] <= max_width)
    matrix = np.where(inside, buffer[np.minimum(index, len(buffer) - 1)], 0).astype(np.uint8)
    matrix[widths > max_width, 0] = ord("?")  # never a valid value
    return np.char.strip(matrix.view(f"S{width}").ravel())


def _concatenated_ranges(starts, stops):
    """np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]) without the loop."""
    lengths = stops - starts
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
