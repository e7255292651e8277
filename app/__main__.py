"""`python -m app`: the CLI (app/cli.py), then a prompt that comes back at once.

After a command that loaded TensorFlow, the interpreter's own teardown (TensorFlow's thread pools
and C++ destructors) kept the prompt away for 5-10 s after the last line. So the exit handlers
run (MLflow's, logging's, temp-dir cleanups), the streams are flushed, and the process ends
without that teardown.
"""

import atexit
import os
import sys

from app.cli import main

code = main()
if "tensorflow" in sys.modules:
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
