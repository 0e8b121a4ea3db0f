#!/usr/bin/env python3
"""Extracts Jane Austen's six novels from the R package janeaustenr's lazy-load data.

Usage: extract-austen.py DATA_DIR OUT_DIR

DATA_DIR holds `Rdata.rdx` and `Rdata.rdb` (in the Debian package r-cran-janeaustenr 1.0.0-1 they are
under usr/lib/R/site-library/janeaustenr/data/). Python standard library only; no R needed.

- `Rdata.rdx` is a gzip file holding one R serialization of a list
  (variables = named list of integer (offset, length) pairs, references, compressed).
- `Rdata.rdb` is a sequence of records: a 4-byte big-endian uncompressed length, then (compressed =
  TRUE) a zlib stream, or (compressed = 2 or 3) one type byte ('0' none, '2' bzip2, 'Z' xz) and the
  stream. Each record holds one R serialization of one object; each novel is a character vector
  (STRSXP) whose elements (CHARSXP) are its lines.

Each novel is written as its lines joined by "\n" plus a final "\n", UTF-8, to OUT_DIR/<title>.txt.
"""

import bz2
import codecs
import gzip
import lzma
import os
import struct
import sys
import zlib

NOVELS = {
    "emma": "emma.txt",
    "mansfieldpark": "mansfield-park.txt",
    "northangerabbey": "northanger-abbey.txt",
    "persuasion": "persuasion.txt",
    "prideprejudice": "pride-and-prejudice.txt",
    "sensesensibility": "sense-and-sensibility.txt",
}

# SEXP types and special codes of R's serialize.c.
NILSXP, SYMSXP, LISTSXP, CHARSXP, LGLSXP = 0, 1, 2, 9, 10
INTSXP, REALSXP, CPLXSXP, STRSXP, VECSXP, EXPRSXP, RAWSXP, S4SXP = 13, 14, 15, 16, 19, 20, 24, 25
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP, BASENAMESPACE_SXP = (
    255, 254, 253, 252, 251, 250)
EMPTYENV_SXP, BASEENV_SXP, ATTRLISTSXP = 242, 241, 239
# CHARSXP encoding bits, in the "levels" field (flags >> 12).
BYTES_MASK, LATIN1_MASK, UTF8_MASK, ASCII_MASK = 1 << 1, 1 << 2, 1 << 3, 1 << 6
NA_INTEGER = -(2 ** 31)


class RFormatError(Exception):
    pass


class RList:
    """An R generic vector or pairlist: values plus the `names` attribute when present."""

    def __init__(self, values, attributes):
        self.values = values
        self.attributes = attributes

    def names(self):
        return self.attributes.get("names")

    def get(self, name):
        names = self.names()
        if names is None or name not in names:
            raise RFormatError(f"no element named {name!r}")
        return self.values[names.index(name)]


class Unserializer:
    """Reads R's XDR serialization format ("X\\n", versions 2 and 3): the subset data files use."""

    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.refs = []
        self.native_encoding = None

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise RFormatError(f"truncated serialization: need {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def length(self):
        n = self.int()
        if n == -1:  # long vector: two more words, upper then lower 32 bits
            upper, lower = self.int(), self.int()
            n = (upper << 32) | (lower & 0xFFFFFFFF)
        if n < 0:
            raise RFormatError(f"negative length {n}")
        return n

    def read(self):
        fmt = self.take(2)
        if fmt != b"X\n":
            raise RFormatError(f"not R XDR serialization (format {fmt!r}; only 'X\\n' is supported)")
        version = self.int()
        self.int()  # the R version that wrote it
        self.int()  # the oldest R version that can read it
        if version == 3:
            self.native_encoding = self.take(self.int()).decode("ascii")
        elif version != 2:
            raise RFormatError(f"unsupported serialization version {version}")
        value = self.item()
        if self.pos != len(self.data):
            raise RFormatError(f"{len(self.data) - self.pos} bytes left after the serialized object")
        return value

    def attributes(self, has_attr):
        if not has_attr:
            return {}
        attrs = self.item()
        if not isinstance(attrs, list):
            raise RFormatError("attributes are not a pairlist")
        return {tag: value for tag, value in attrs}

    def item(self):
        flags = self.int()
        kind = flags & 0xFF
        levels = flags >> 12
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))

        if kind in (NILVALUE_SXP, NILSXP):
            return None
        if kind in (GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP, BASENAMESPACE_SXP,
                    EMPTYENV_SXP, BASEENV_SXP):
            return ("special", kind)
        if kind == REFSXP:
            index = flags >> 8 or self.int()
            if not 1 <= index <= len(self.refs):
                raise RFormatError(f"bad reference index {index}")
            return self.refs[index - 1]
        if kind == SYMSXP:
            name = self.item()
            if not isinstance(name, str):
                raise RFormatError("symbol name is not a string")
            self.refs.append(name)
            return name
        if kind in (LISTSXP, ATTRLISTSXP):
            # A pairlist, read iteratively: (attributes) (tag) CAR, then CDR (next cell or NULL).
            cells = []
            while True:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                cells.append((tag, self.item()))
                flags = self.int()
                kind = flags & 0xFF
                if kind in (NILVALUE_SXP, NILSXP):
                    return cells
                if kind not in (LISTSXP, ATTRLISTSXP):
                    raise RFormatError(f"pairlist ends in type {kind}")
                has_attr = bool(flags & (1 << 9))
                has_tag = bool(flags & (1 << 10))
        if kind == CHARSXP:
            return self.charsxp(levels)
        if kind in (LGLSXP, INTSXP):
            n = self.length()
            values = list(struct.unpack(f">{n}i", self.take(4 * n)))
            values = [None if v == NA_INTEGER else v for v in values]
            self.attributes(has_attr)
            return values
        if kind == REALSXP:
            n = self.length()
            values = list(struct.unpack(f">{n}d", self.take(8 * n)))
            self.attributes(has_attr)
            return values
        if kind == CPLXSXP:
            n = self.length()
            parts = struct.unpack(f">{2 * n}d", self.take(16 * n))
            self.attributes(has_attr)
            return [complex(parts[2 * i], parts[2 * i + 1]) for i in range(n)]
        if kind == RAWSXP:
            data = self.take(self.length())
            self.attributes(has_attr)
            return data
        if kind == STRSXP:
            n = self.length()
            values = []
            for _ in range(n):
                element_flags = self.int()
                if element_flags & 0xFF != CHARSXP:
                    raise RFormatError(f"character vector element of type {element_flags & 0xFF}")
                values.append(self.charsxp(element_flags >> 12))
            self.attributes(has_attr)
            return values
        if kind in (VECSXP, EXPRSXP):
            n = self.length()
            values = [self.item() for _ in range(n)]
            return RList(values, self.attributes(has_attr))
        if kind == S4SXP:
            return RList([], self.attributes(has_attr))
        raise RFormatError(f"unsupported R object type {kind} at offset {self.pos - 4}")

    def charsxp(self, levels):
        n = self.int()
        if n == -1:
            return None  # NA_character_
        if n < 0:
            raise RFormatError(f"bad string length {n}")
        raw = self.take(n)
        if levels & UTF8_MASK:
            return raw.decode("utf-8")
        if levels & LATIN1_MASK:
            return raw.decode("latin-1")
        if levels & ASCII_MASK:
            return raw.decode("ascii")
        if levels & BYTES_MASK:
            # Declared as raw bytes: keep them (they pass through as undecodable bytes).
            return raw.decode("utf-8", errors="surrogateescape")
        # Native encoding: the writer's, named in a version-3 header; unknown in version 2, where
        # UTF-8 is tried first and latin-1 (every byte valid) is the fallback.
        if self.native_encoding:
            try:
                return raw.decode(codecs.lookup(self.native_encoding).name)
            except (LookupError, UnicodeDecodeError):
                pass
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def unserialize(data):
    return Unserializer(data).read()


def read_record(rdb, offset, length, compressed):
    if offset < 0 or length < 5 or offset + length > len(rdb):
        raise RFormatError(f"record (offset {offset}, length {length}) is outside Rdata.rdb")
    record = rdb[offset:offset + length]
    expected = struct.unpack(">I", record[:4])[0]
    if compressed == 1:
        data = zlib.decompress(record[4:])
    elif compressed in (2, 3):
        method, body = record[4:5], record[5:]
        if method == b"0":
            data = body
        elif method == b"2":
            data = bz2.decompress(body)
        elif method == b"Z":
            data = lzma.decompress(body)
        else:
            raise RFormatError(f"unknown record compression {method!r}")
    else:
        raise RFormatError(f"unsupported 'compressed' value {compressed!r}")
    if len(data) != expected:
        raise RFormatError(f"record decompressed to {len(data)} bytes, header says {expected}")
    return data


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract-austen.py DATA_DIR OUT_DIR")
    data_dir, out_dir = sys.argv[1], sys.argv[2]
    with gzip.open(os.path.join(data_dir, "Rdata.rdx"), "rb") as f:
        index = unserialize(f.read())
    with open(os.path.join(data_dir, "Rdata.rdb"), "rb") as f:
        rdb = f.read()
    if not isinstance(index, RList):
        raise RFormatError("Rdata.rdx does not hold a list")
    variables = index.get("variables")
    compressed = index.get("compressed")
    if not (isinstance(compressed, list) and len(compressed) == 1):
        raise RFormatError("index entry 'compressed' is not a single value")
    compressed = compressed[0]  # logical TRUE (read as 1): zlib; integer 2 or 3: typed records

    os.makedirs(out_dir, exist_ok=True)
    for name, filename in NOVELS.items():
        position = variables.get(name)
        if not (isinstance(position, list) and len(position) == 2):
            raise RFormatError(f"index entry for {name} is not an (offset, length) pair")
        lines = unserialize(read_record(rdb, position[0], position[1], compressed))
        if not (isinstance(lines, list) and all(line is None or isinstance(line, str) for line in lines)):
            raise RFormatError(f"{name} is not a character vector")
        # NA elements (none are expected in janeaustenr 1.0.0) are written as empty lines, so the
        # line count always equals the vector's length.
        missing = sum(line is None for line in lines)
        text = "\n".join("" if line is None else line for line in lines) + "\n"
        path = os.path.join(out_dir, filename)
        with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
            f.write(text)
        note = f", {missing} NA lines written empty" if missing else ""
        print(f"extract-austen: {filename}: {len(lines)} lines, {len(text.encode('utf-8', 'surrogateescape'))} bytes{note}")


if __name__ == "__main__":
    try:
        main()
    except (RFormatError, OSError, zlib.error, EOFError, lzma.LZMAError, ValueError) as error:
        sys.exit(f"extract-austen: {error}")
