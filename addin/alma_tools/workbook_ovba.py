"""ms-ovba 0.0.1, made correct and fast for the duration of a workbook build (build tooling only).

Its compressor computes the longest copy as ``0xFFFF << bitCount + 3`` instead of MS-OVBA's
``(0xFFFF >> bitCount) + 3`` (2.4.1.3.19.4), which garbles long modules: olevba and LibreOffice then read back
scrambled code. Its match search compares every earlier position, which took seconds for ``xlwings.bas``.
:func:`patched_ms_ovba` fixes the first and replaces the second with an equivalent search (same bytes) while
a build runs, and puts both back afterwards. ms-ovba also writes scratch files into the working directory
and draws random bytes for the PROJECT stream: :func:`working_directory` and :func:`seeded_random` contain
that.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alma_tools.errors import ConfigError


@contextlib.contextmanager
def patched_ms_ovba() -> Iterator[None]:
    """Fix ms-ovba's maximum copy length (MS-OVBA 2.4.1.3.19.4: ``(0xFFFF >> bitCount) + 3``) and speed up
    its match search, for the duration of a build."""
    try:
        from ms_ovba_compression.ms_ovba import MsOvba
    except ImportError:
        raise ConfigError("building the workbook needs ms-ovba: run  pip install -e '.[build]'") from None
    original = MsOvba.__dict__["copytoken_help"]

    def copytoken_help(difference: int) -> dict[str, int]:
        bit_count = MsOvba.ceil_log2(difference)
        length_mask = 0xFFFF >> bit_count
        return {
            "lengthMask": length_mask,
            "offsetMask": ~length_mask & 0xFFFF,
            "bitCount": bit_count,
            "maxLength": (0xFFFF >> bit_count) + 3,
        }

    def matching(self: Any) -> tuple[int, int]:
        # Same answer as MsOvba._matching (the longest earlier match, the nearest one on a tie, clipped to
        # the maximum length afterwards), but only candidates sharing the next three bytes are compared:
        # shorter matches are never used. Upstream compares every earlier position, which made a build
        # take seconds; the committed workbook, built either way, is byte-identical.
        chunk: bytes = self._activeChunk
        position = len(chunk) - len(self._uncompressedData)
        remaining = len(chunk) - position
        if position == 0 or remaining < 3:
            return 0, 0
        index = _trigram_index(chunk)
        best_length, best_candidate = 0, 0
        for candidate in reversed(index.get(chunk[position : position + 3], ())):
            if candidate >= position:
                continue
            length = 3
            while length < remaining and chunk[candidate + length] == chunk[position + length]:
                length += 1
            if length > best_length:
                best_length, best_candidate = length, candidate
                if length == remaining:
                    break
        if best_length < 3:
            return 0, 0
        return position - best_candidate, min(copytoken_help(position)["maxLength"], best_length)

    original_matching = MsOvba.__dict__["_matching"]
    MsOvba.copytoken_help = staticmethod(copytoken_help)  # type: ignore[method-assign]
    MsOvba._matching = matching  # type: ignore[method-assign]
    try:
        yield
    finally:
        MsOvba.copytoken_help = original  # type: ignore[method-assign]
        MsOvba._matching = original_matching  # type: ignore[method-assign]
        _trigram_index.cache_clear()


@functools.lru_cache(maxsize=4)
def _trigram_index(chunk: bytes) -> dict[bytes, list[int]]:
    """Positions of every three-byte sequence in a chunk of at most 4096 bytes, in ascending order."""
    index: dict[bytes, list[int]] = {}
    for position in range(len(chunk) - 2):
        index.setdefault(chunk[position : position + 3], []).append(position)
    return index


@contextlib.contextmanager
def seeded_random(seed: int) -> Iterator[None]:
    """Seed ``random`` (ms-ovba's PROJECT stream fields, ms-cfb's scratch names) and restore it afterwards."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """ms-ovba and ms-cfb write scratch files into the current directory: keep them in ``path``."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
