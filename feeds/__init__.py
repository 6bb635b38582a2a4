"""feeds: publish a folder of news records as Atom, RSS and JSON feeds, live and static.

Stages, each a module, data flowing one way:
records → store → plan → render → export (static) | web (live).
"""

__version__ = "0.1.0"
