#!/usr/bin/env python3
"""Amun run harness: what the executors start (`python3 -I -S entrypoint.py`; options on the
command line or in AMUN_* variables, `--help` lists them). The harness is runner.py.

Python compiles the file it is started with on every start, and reads the modules that file
imports in their byte-compiled form (the image compiles the harness at build time): so this
file only starts runner.py, whose compilation took 12 ms of every run.
"""

import os
import sys

# -I leaves the script's directory off sys.path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
