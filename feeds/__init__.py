"""feeds: publish a folder of news records as Atom, RSS and JSON feeds, live and static.

Data flows one way: the record folder → the catalog (`feeds.catalog`) → the
planner (`feeds.plan`) → the site's files (`feeds.site`), exported by the
static edge (`feeds.build`) or served by the live one (`feeds.live`, `feeds.web`).
"""

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


@functools.cache
def code_digest() -> str:
    """Changes with any file of the package: its code, templates and static files.

    Every output's fingerprint holds it, so an upgrade or an edited template makes
    each file again (and writes those whose bytes it changed); the catalog holds it
    too, so records are read again by the code that reads them now.
    """
    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
