"""Entry point of the measurement subprocess: a Job as JSON on stdin, one JSON line on stdout."""

from __future__ import annotations

import json
import os
import sys

from edgebench.bench.runner import SPAWNED_ENV, Job, run_job
from edgebench.errors import EdgebenchError
from edgebench.runtimes.torch.session import provide_from_env


def _spawned_ns() -> int | None:
    """When the parent started this process (`runner.SPAWNED_ENV`), None when not set or not a number."""
    value = os.environ.get(SPAWNED_ENV, "")
    return int(value) if value.isdigit() else None


def main() -> int:
    out = sys.stdout
    provide_from_env(os.environ)  # what the parent gave the torch runtimes (runner.run_job_isolated)
    try:
        reply = run_job(Job.from_json(sys.stdin.read()), spawned_ns=_spawned_ns()).to_dict()
        code = 0
    except EdgebenchError as e:
        reply = {"error": {"message": str(e), "exit_code": e.exit_code, "type": type(e).__name__}}
        code = e.exit_code
    out.write(json.dumps(reply) + "\n")
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
