"""The real-library corpus: programs using installed libraries (SQLAlchemy, Flask,
Starlette) and the standard library's asyncio, logging and functools.lru_cache. Each
program knows the ids and sizes of objects it built; the test checks each one is in the
dump with its exact size and the edge from its container. The libraries come from the
corpus site of each minor (tools/setup, tools/python/corpus-pins.txt)."""

import json

from conftest import need_corpus, run_program


def test_corpus_site_imports(python, tmp_path):
    """The corpus site of every interpreter puts the pinned versions on sys.path, and the
    interpreter imports them from there (not from anywhere else)."""
    site = need_corpus(python, "numpy", "pandas", "SQLAlchemy", "Flask", "starlette")
    p = run_program(python, """
import json, os
import numpy, pandas, sqlalchemy, flask, starlette
print(json.dumps({m.__name__: m.__file__ for m in (numpy, pandas, sqlalchemy, flask, starlette)}))
""", tmp_path, site=site)
    files = json.loads(p.stdout)
    for name, f in files.items():
        assert f.startswith(site + "/"), (name, f, site)
