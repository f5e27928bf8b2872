"""The writer turns each format/vectors/NAME.json into exactly NAME.hsnap."""

import glob
import json
import os

import pytest

from conftest import REPO
import hsnap_reader
from heapsnap import dumper

VECTORS = sorted(glob.glob(os.path.join(REPO, "format", "vectors", "*.json")))


def test_crc_check_value():
    assert dumper.crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize("path", VECTORS or [None],
                         ids=[os.path.basename(p) for p in VECTORS] or ["none"])
def test_vector_written_exactly(path):
    if path is None:
        pytest.skip("no format/vectors/*.json yet (written by the Rust side): skipped")
    with open(path) as f:
        desc = json.load(f)
    with open(path[:-5] + ".hsnap", "rb") as f:
        expected = f.read()
    got = dumper.file_from_description(desc)
    assert got == expected
    # and the test reader decodes it back to the description
    assert hsnap_reader.decode(expected) == desc


def test_reader_rejects_flipped_bit():
    if not VECTORS:
        pytest.skip("no vectors")
    with open(VECTORS[0][:-5] + ".hsnap", "rb") as f:
        data = bytearray(f.read())
    for pos in range(0, len(data), max(1, len(data) // 40)):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        with pytest.raises((hsnap_reader.FormatError, UnicodeDecodeError)):
            hsnap_reader.decode(bytes(bad))
