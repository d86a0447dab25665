"""Serve Juben's HTTP API: ``python api.py [--host H] [--port N] [--workers N] [--embedded]``.

Wiring only; see :mod:`entrypoints.api.server`. OpenAPI at ``/docs``.
"""

from __future__ import annotations

import sys

from entrypoints.api.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
