"""The model server's output while it starts: held back, and its last exception line explains a failed start."""

import io
import subprocess
import sys

from app.model_server import ServerOutput


def start(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_failed_start_is_explained_by_its_last_exception_line():
    process = start("import sys; print('INFO: starting', flush=True); raise ValueError('the model file is damaged')")
    sink = io.StringIO()
    output = ServerOutput(process.stdout, sink)
    process.wait()
    assert output.reason() == "ValueError: the model file is damaged"
    assert sink.getvalue() == ""  # nothing of a start is shown


def test_after_the_start_its_warnings_are_passed_on():
    process = start("import sys, time; time.sleep(0.5); print('WARNING: slow request', flush=True)")
    sink = io.StringIO()
    output = ServerOutput(process.stdout, sink)
    output.started = True
    process.wait()
    output.thread.join(5)
    assert sink.getvalue() == "WARNING: slow request\n"
