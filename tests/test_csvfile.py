"""Tests for fer_utils.csvfile on tiny hand-made files: the three forms, chunking, exact line-numbered errors."""

import gzip

import numpy as np
import pytest

from datafiles import LABELS, PIXELS, USAGE, ml2017_train_csv, pixel_text, write

from fer_utils import csvfile
from fer_utils.errors import DataError


def parse(path):
    """(form, arrays) of a CSV file, as ``data.load`` reads it on a cache miss."""
    raw = path.read_bytes()
    form, columns = csvfile.read_header(raw, path)
    return form, csvfile.parse(raw, path, form, columns, progress=False)


def row(label=3, pixels=None, sep=" "):
    return f"{label},{sep.join(map(str, PIXELS[0] if pixels is None else pixels))}"


# ------------------------------------------------------------------------------------------- reading forms


@pytest.mark.parametrize("gz", [False, True])
def test_fer2013_arrays_round_trip_exactly(tmp_path, gz):
    rows = [f"{y},{pixel_text(x)},{u}" for x, y, u in zip(PIXELS, LABELS, USAGE)]
    form, arrays = parse(write(tmp_path / "fer2013.csv", "emotion,pixels,Usage\n" + "\n".join(rows) + "\n", gz))
    assert form == "fer2013" and arrays["x"].shape == (5, 48, 48, 1) and arrays["x"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["x"].reshape(5, -1), PIXELS)
    assert arrays["y"].dtype == np.int64 and arrays["y"].tolist() == LABELS.tolist()
    assert arrays["usage"].tolist() == USAGE.tolist() and arrays["ids"].tolist() == [0, 1, 2, 3, 4]
    assert arrays["paths"].tolist() == [""] * 5 and arrays["resized_count"] == 0 and len(arrays["skipped"]) == 0


@pytest.mark.parametrize("gz", [False, True])
def test_ml2017_train_with_crlf_quotes_and_no_final_newline(tmp_path, gz):
    rows = [f'{y},"{pixel_text(x)}"' for x, y in zip(PIXELS, LABELS)]
    form, arrays = parse(write(tmp_path / "train.csv", "label,feature\r\n" + "\r\n".join(rows), gz))
    assert form == "ml2017-train" and set(arrays["usage"]) == {"Training"}
    np.testing.assert_array_equal(arrays["x"].reshape(5, -1), PIXELS)
    assert arrays["y"].tolist() == LABELS.tolist()


def test_ml2017_test_is_unlabeled_with_ids_from_the_file(tmp_path):
    rows = [f"{i},{pixel_text(x)}" for i, x in zip([7, 3, 100], PIXELS)]
    form, arrays = parse(write(tmp_path / "test.csv", "id,feature\n" + "\n".join(rows) + "\n\n"))
    assert form == "ml2017-test" and arrays["ids"].tolist() == [7, 3, 100]
    assert arrays["y"].tolist() == [-1, -1, -1] and set(arrays["usage"]) == {"Test"}


def test_columns_in_any_order_and_case(tmp_path):
    rows = [f"{u},{y},{pixel_text(x)}" for x, y, u in zip(PIXELS, LABELS, USAGE)]
    path = write(tmp_path / "f.csv", "usage,Emotion,PIXELS\n" + "\n".join(rows))
    assert csvfile.read_header(path.read_bytes(), path) == ("fer2013", ("usage", "Emotion", "PIXELS"))
    _, arrays = parse(path)
    np.testing.assert_array_equal(arrays["x"].reshape(5, -1), PIXELS)
    assert arrays["usage"].tolist() == USAGE.tolist() and arrays["y"].tolist() == LABELS.tolist()


def test_small_chunks_parse_the_same_and_keep_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(csvfile, "_CHUNK_BYTES", 100)  # every line its own chunk
    rows = [f"{y},{pixel_text(x)}" for x, y in zip(PIXELS, LABELS)] * 3
    _, arrays = parse(ml2017_train_csv(tmp_path / "train.csv.gz", True, rows))
    np.testing.assert_array_equal(arrays["x"].reshape(15, -1), np.tile(PIXELS, (3, 1)))
    rows[11] = rows[11].replace(" 255 ", " 256 ", 1)
    with pytest.raises(DataError, match=r"train\.csv\.gz, line 13: .*'256'"):
        parse(ml2017_train_csv(tmp_path / "train.csv.gz", True, rows))
    rows[4] = "9" + rows[4][1:]  # chunks are parsed in parallel: the first bad line of the file is still the one named
    with pytest.raises(DataError, match=r"train\.csv\.gz, line 6: label '9'"):
        parse(ml2017_train_csv(tmp_path / "train.csv.gz", True, rows))


# ------------------------------------------------------------------------------------------ bad input


BAD_TRAIN_ROWS = [  # (rows of an ML2017 train.csv, expected line, expected text)
    ([row(), row(pixels=PIXELS[0][:-1])], 3, "found 2303 values in feature, expected 2304"),
    ([row(pixels=list(PIXELS[0]) + [1])], 2, "found 2305 values"),
    ([row(), row(), row(pixels=["256"] + list(PIXELS[0][1:]))], 4, "feature value 1 is '256'"),
    ([row(pixels=list(PIXELS[0][:9]) + ["-1"] + list(PIXELS[0][10:]))], 2, "feature value 10 is '-1'"),
    ([row(pixels=list(PIXELS[0][:-1]) + ["1.5"])], 2, "feature value 2304 is '1.5'"),
    ([row(), row(pixels=["abc"] + list(PIXELS[0][1:]))], 3, "'abc', expected an integer 0-255"),
    ([row(pixels=["0012"] + list(PIXELS[0][1:]))], 2, "'0012'"),
    ([row(), "4,"], 3, "found 0 values"),
    ([row(), row(label=7)], 3, "label '7' is not a class index 0-6"),
    ([row(label="x")], 2, "label 'x'"),
    ([row(), "", row()], 3, "found an empty line, expected 2 comma-separated fields (label,feature)"),
    ([row(), row() + ",Training"], 3, "found 3 fields"),
    ([row(), row(label=9), row(pixels=[1])], 3, "label '9'"),  # the first bad line wins
]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("rows, line, expected", BAD_TRAIN_ROWS)
def test_bad_rows_name_file_line_and_token(tmp_path, rows, line, expected, gz):
    path = ml2017_train_csv(tmp_path / "train.csv", gz, rows)
    with pytest.raises(DataError) as error:
        parse(path)
    assert str(error.value).startswith(f"{path}, line {line}: ") and expected in str(error.value)


@pytest.mark.parametrize("text, expected", [
    ("", "line 1: the file is empty"),
    ("label,feature\n", "line 2: no data rows after the header 'label,feature'"),
    ("emotion,pixel,Usage\n", "line 1: unrecognised header 'emotion,pixel,Usage': missing column 'pixels' "
                              "(is 'pixel' a typo?); expected one of 'emotion,pixels,Usage' (Kaggle fer2013.csv)"),
    ("lable,feature\n", "missing column 'label' (is 'lable' a typo?)"),
    ("0,1 2 3\n", "line 1: unrecognised header '0,1 2 3': no known column names (is the header missing?)"),
    ("emotion,pixels,Usage\n" + row() + ",Train\n", "line 2: Usage 'Train' is not one of Training, PublicTest"),
    ("id,feature\n1," + pixel_text(PIXELS[0]) + "\n2,1\n", "line 3: found 1 values"),
    ("id,feature\n" + "".join(f"{i},{pixel_text(PIXELS[0])}\n" for i in [4, 5, 4]),
     "line 4: id 4 repeats the id of line 2"),
    ("id,feature\n-3," + pixel_text(PIXELS[0]) + "\n", "line 2: id '-3' is not a non-negative integer"),
])
def test_bad_files(tmp_path, text, expected):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=r"bad\.csv") as error:
        parse(path)
    assert expected in str(error.value)


def test_a_zip_archive_is_named(tmp_path):
    with pytest.raises(DataError, match=r"f\.zip: is a zip archive; unzip it"):
        parse(write(tmp_path / "f.zip", "PK\x03\x04junk"))


def test_gzip_members_truncation_and_corruption(tmp_path):
    text = ml2017_train_csv(tmp_path / "t.csv").read_bytes()
    lines = text.splitlines(keepends=True)
    path = tmp_path / "train.csv.gz"
    path.write_bytes(gzip.compress(b"".join(lines[:3])) + gzip.compress(b"".join(lines[3:])))  # two members
    np.testing.assert_array_equal(parse(path)[1]["x"].reshape(5, -1), PIXELS)
    path.write_bytes(gzip.compress(text)[:-30])
    with pytest.raises(DataError, match=r"train\.csv\.gz: the gzip data is truncated"):
        parse(path)
    path.write_bytes(gzip.compress(text)[:200] + b"x" * 5000)
    with pytest.raises(DataError, match=r"train\.csv\.gz: corrupt gzip data"):
        parse(path)


def test_gzip_trailing_data_is_not_called_truncated(tmp_path):
    text = ml2017_train_csv(tmp_path / "t.csv").read_bytes()
    path = tmp_path / "train.csv.gz"
    for junk in (b"xyz", b"junk" * 100):
        path.write_bytes(gzip.compress(text) + junk)
        with pytest.raises(DataError, match=rf"train\.csv\.gz: {len(junk)} bytes of trailing data after the "
                                            "gzip stream") as error:
            parse(path)
        assert "truncated" not in str(error.value)


# ------------------------------------------------------------------------------- issue 14: loader faults


@pytest.mark.parametrize("first_bad, expected", [
    (row(pixels=list(PIXELS[0]) + [1]), "found 2305 values"),
    (row(label=9), "label '9'"),
    (row(pixels=["256"] + list(PIXELS[0][1:])), "'256'"),
])
@pytest.mark.parametrize("later_bad", ["0,1,2", "", "7"])
def test_the_first_bad_line_wins_whatever_the_kind_of_error(tmp_path, first_bad, expected, later_bad):
    rows = [row(), first_bad] + [row()] * 20 + [later_bad] + [row()] * 3  # one parse chunk
    path = ml2017_train_csv(tmp_path / "train.csv", rows=rows)
    with pytest.raises(DataError, match=r"train\.csv, line 3: ") as error:
        parse(path)
    assert expected in str(error.value)


def test_a_repeated_id_before_a_bad_line_is_the_error(tmp_path):
    rows = [f"{i},{pixel_text(PIXELS[0])}" for i in (4, 5, 4, 6)] + ["x," + pixel_text(PIXELS[0])]
    path = write(tmp_path / "test.csv", "id,feature\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"test\.csv, line 4: id 4 repeats the id of line 2"):
        parse(path)


@pytest.mark.parametrize("text, quoted", [
    ("label,feature\n" + "x" * 1_000_000 + "," + pixel_text(PIXELS[0]) + "\n", "label 'xxx"),
    ("label,feature\n0," + "y" * 1_000_000 + " " + pixel_text(PIXELS[0]) + "\n", "value 1 is 'yyy"),
    ("emotion,pixels,Usage\n0," + pixel_text(PIXELS[0]) + "," + "z" * 1_000_000 + "\n", "Usage 'zzz"),
])
def test_a_huge_bad_field_is_quoted_short(tmp_path, text, quoted):
    with pytest.raises(DataError) as error:
        parse(write(tmp_path / "big.csv", text))
    message = str(error.value)
    assert len(message) < 400 and quoted in message and "…" in message and "1,000,000 bytes" in message
