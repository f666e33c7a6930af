"""The ``tracker-bridge`` command line: a thin layer over the library.

Only this package prints. Library errors (``TrackerBridgeError``) become one line on stderr and
exit code 1; usage errors exit with 2 (click's convention); ``--debug`` shows tracebacks.

``app`` holds the root group ``main``; each command module registers its commands on it when
imported, which ``main`` does only for the command being run (``app.COMMANDS``), so
``tracker-bridge --help`` imports none of the heavy parts.
"""

from tracker_bridge.cli.app import main

__all__ = ["main"]
