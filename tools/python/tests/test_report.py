"""`heapsnap report` in a real browser: a real leaky program (examples/leaky_service.py)
runs under the dumper (`python -m heapsnap run --at-exit`), heapsnap writes the HTML
report of its dump, and headless Chromium loads the page from disk. The page must draw
itself without a console message (no error, no refused request) and show the leak
suspects that heapsnap found; a hostile program's type names, keys and strings must
stay text in the browser's DOM.

Needs $HEAPSNAP_BIN and Chromium (tools/setup installs Debian's `chromium`; or set
$HEAPSNAP_CHROMIUM); skipped with the reason otherwise."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import PYDIR, REPO

BIN = os.environ.get("HEAPSNAP_BIN")


def _chromium():
    exe = os.environ.get("HEAPSNAP_CHROMIUM")
    if exe:
        return exe
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
pytestmark = [
    pytest.mark.skipif(
        not BIN, reason="HEAPSNAP_BIN is unset: the report is written by the heapsnap "
                        "binary (cargo build; HEAPSNAP_BIN=$PWD/target/debug/heapsnap)"),
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (tools/setup installs Debian's "
                                 "package; or set HEAPSNAP_CHROMIUM): the report is not "
                                 "checked in a browser"),
]


def dump_program(tmp_path, script, args=(), values=None):
    """Runs script under the dumper with a dump at exit; returns the dump's path."""
    out = tmp_path / "dumps"
    out.mkdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = PYDIR
    cmd = [sys.executable, "-m", "heapsnap", "run", "--at-exit", "--dir", str(out)]
    if values:
        cmd += ["--values", values]
    p = subprocess.run(cmd + [str(script)] + list(args), capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path), env=env)
    assert p.returncode == 0, p.stderr
    dumps = sorted(out.glob("*.hsnap"))
    assert len(dumps) == 1, (dumps, p.stderr)
    return dumps[0]


def write_report(dump, html):
    """heapsnap report DUMP -o HTML --json; returns the envelope's data."""
    p = subprocess.run([BIN, "report", str(dump), "-o", str(html), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    env = json.loads(p.stdout)
    assert env["schema"] == 1 and env["kind"] == "report"
    return env["data"]


def browse(html, tmp_path):
    """Loads html in headless Chromium (fresh profile, no network features); returns the
    DOM after the page's script ran. Fails on any console message: the page logs only
    errors (a script error, a request its policy refused)."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
           "--user-data-dir=" + str(profile), "--enable-logging=stderr", "--v=0",
           "--dump-dom", html.as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-3000:]
    console = [line for line in p.stderr.splitlines()
               if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line]
    assert not console, "console messages:\n" + "\n".join(console)
    dom = p.stdout
    assert dom.lstrip().startswith("<!DOCTYPE html>"), dom[:200]
    return dom


def section(dom, ident):
    """The serialized DOM of the element with id ident (up to the next section)."""
    start = dom.index('id="%s"' % ident)
    end = dom.find("<section", start)
    return dom[start:end if end >= 0 else len(dom)]


def test_report_of_the_leaky_service_in_a_browser(tmp_path):
    dump = dump_program(tmp_path, os.path.join(REPO, "examples", "leaky_service.py"),
                        ["--requests", "3000"])
    html = tmp_path / "report.html"
    data = write_report(dump, html)
    # heapsnap's suspects: the bus's listener list (bound methods holding Sessions) and
    # the response cache (cached strings).
    by_type = {s["type"]: s for s in data["suspects"]}
    assert set(by_type) == {"list", "dict"}, data["suspects"]
    listeners, cache = by_type["list"], by_type["dict"]
    assert listeners["reason"] == "accumulation"
    assert listeners["summary"].startswith("3,000 method objects"), listeners
    assert "__main__.Session" in listeners["summary"]
    assert cache["reason"] == "accumulation"
    assert cache["summary"].startswith("6,000 str objects"), cache

    dom = browse(html, tmp_path)
    assert 'data-rendered="ok"' in dom, "the page's script did not finish"
    assert re.search(r'<div id="errors" hidden(="")?>', dom), section(dom, "errors")

    # The suspects, drawn by the page's script from the embedded data.
    suspects = section(dom, "suspects")
    cards = re.findall(r'<article class="suspect" id="suspect-(\d+)">', suspects)
    assert cards == [str(i + 1) for i in range(len(data["suspects"]))]
    for s in data["suspects"]:
        assert s["address"] in suspects
    assert suspects.count('<span class="badge">accumulation</span>') == 2
    assert "3,000 method objects directly under it" in suspects
    assert "3,000 × __main__.Session" in suspects
    # Their retention paths, as `heapsnap path` prints them.
    assert "module '__main__' -&gt; dict['BUS'] -&gt; __main__.EventBus -&gt; list" \
        in suspects
    assert "dict['RESPONSE_CACHE'] -&gt; dict" in suspects

    # The other parts are drawn too.
    tiles = section(dom, "overview")
    assert tiles.count('class="tile"') == 4
    assert "Biggest retainer" in tiles and "module '__main__'" in tiles
    tree = section(dom, "dominator-tree")
    assert tree.count("<rect") > 100
    assert "all reachable objects" in tree
    types = section(dom, "types")
    assert "__main__.Session" in types and 'aria-sort="descending"' in types
    cycles = section(dom, "cycles")
    assert "__main__.Child + __main__.Parent" in cycles or \
        "__main__.Parent + __main__.Child" in cycles
    assert '<span class="badge">__del__</span>' in cycles


HOSTILE = r'''
import sys

EVIL = "</script><script>document.title='pwned'</script>\u202egpj.exe\u2028"
Evil = type(EVIL, (), {})
KEEP = []
for _ in range(10000):
    e = Evil()
    e.payload = bytes(300)
    KEEP.append(e)
BY_KEY = {"<img src=x onerror=console.error('pwned')>": "<b>bold</b>\u2029\u202e"}
'''


def test_hostile_strings_stay_text_in_a_browser(tmp_path):
    script = tmp_path / "hostile.py"
    script.write_text(HOSTILE)
    dump = dump_program(tmp_path, script, values="all")
    html = tmp_path / "hostile.html"
    data = write_report(dump, html)
    assert data["suspects"] and data["suspects"][0]["type"] == "list", data
    dom = browse(html, tmp_path)
    assert 'data-rendered="ok"' in dom
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    assert title.startswith("heapsnap report: ") and "pwned" not in title
    # The hostile names are in the page as text (escaped by the DOM serializer), never
    # as elements, and control and bidi characters are shown as escapes.
    assert "&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "\\u{202e}gpj.exe\\u{2028}" in dom
    assert "<script>document.title" not in dom
    assert "<img" not in dom and "<b>" not in dom
    for c in ("\u202e", "\u2028", "\u2029"):
        assert c not in dom, repr(c)
    # The page has exactly its own two script elements.
    assert dom.count("<script") == 2
