"""Imports the locked package and reports its version and where it was installed."""
import json
import sys

import six

print(json.dumps({"six": six.__version__, "location": six.__file__, "python": sys.version.split()[0], "prefix": sys.prefix}))
