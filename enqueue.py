"""Juben's command line: ``python enqueue.py --help``.

Wiring only; the commands live in :mod:`entrypoints.cli`.
"""

from __future__ import annotations

import sys

from entrypoints.cli import entrypoint

if __name__ == "__main__":
    sys.exit(entrypoint())
