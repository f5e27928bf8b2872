"""heapsnap: dump a CPython heap to a heapsnap file (see heapsnap.dumper)."""

from .dumper import (DumpResult, Installed, __version__, build_file, crc32, dump,
                     file_from_description, install, main)

__all__ = ["dump", "install", "DumpResult", "Installed", "main", "__version__",
           "build_file", "file_from_description", "crc32"]
