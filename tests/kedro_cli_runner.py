"""Runs ``kedro`` command lines as ``python -m kedro`` would, each in its own process, forked
from one process that has imported Kedro, MLflow and the project once.

    python tests/kedro_cli_runner.py      # then one JSON job per line on stdin

A job is ``{"argv": [...], "cwd": ..., "env": {...}, "stdout": path, "stderr": path}``;
for each, one line ``{"code": <exit status>}`` comes back on stdout (whatever the imports
print goes to stderr). The child sets the
job's working folder and environment, points file descriptors 1 and 2 at the job's files
and calls ``kedro.framework.cli.main`` as ``kedro/__main__.py`` does; it ends as the
interpreter would: ``SystemExit``'s code, or an uncaught exception through
``sys.excepthook`` (the project's clean exit) and status 1, after the ``atexit`` handlers.

Why: a fresh interpreter pays ~6 s of imports (MLflow, allensdk, Kedro's CLI) before
it reads a single file; the malformed-input corpus runs 44 command lines
(tests/test_malformed_inputs.py), and a few of them still go through a fresh
``python -m kedro`` so that the real entry point stays tested.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

# the replies keep the real stdout; anything the imports print goes to stderr
REPLIES = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)

# what every `kedro run` of this project imports before its first node
import kedro.framework.cli.cli  # noqa: F401
import kedro.framework.session  # noqa: F401
import kedro_datasets.pandas  # noqa: F401
import neuron_types.pipeline_registry  # noqa: F401
import neuron_types.settings  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.mlflow_startup import cache_schema_head  # noqa: E402

cache_schema_head()  # inherited by every forked command line


def _exit_status(error: SystemExit) -> int:
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _child(job: dict) -> None:
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    sys.argv = ["python -m kedro", *job["argv"]]
    code = 1
    try:
        from kedro.framework.cli import main

        main()
        code = 0
    except SystemExit as error:
        code = _exit_status(error)
    except BaseException:  # noqa: BLE001 - the interpreter's own handling of an uncaught exception
        sys.excepthook(*sys.exc_info())
    finally:
        try:
            atexit._run_exitfuncs()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def main() -> None:
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(job)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), file=REPLIES, flush=True)


if __name__ == "__main__":
    main()
