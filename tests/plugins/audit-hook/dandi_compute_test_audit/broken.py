"""A hook plugin that fails to import when ``TEST_AUDIT_BREAK_IMPORT`` is set."""

import os

if os.environ.get("TEST_AUDIT_BREAK_IMPORT"):
    raise ImportError("this plugin cannot be imported (on purpose)")
