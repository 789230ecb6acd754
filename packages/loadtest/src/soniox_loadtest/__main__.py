"""``python -m soniox_loadtest [locust options] [UserClass ...]``: locust with our locustfile.

Adds ``-f <this package's locustfile>`` and, unless given, ``--csv reports/<profile>``,
``--csv-full-history`` and ``--html reports/<profile>.html`` (``reports/`` under the current
directory), then runs locust in this same process so its exit code (set by the thresholds) is
ours. ``--no-csv-full-history`` (ours, removed before locust sees it) keeps locust's default.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def locust_argv(args: Sequence[str], reports_dir: str = "reports") -> list[str]:
    """The full locust command line for ``args`` (pure, so it can be tested)."""
    argv = list(args)

    def given(*flags: str) -> bool:
        return any(a in flags or a.startswith(tuple(f + "=" for f in flags)) for a in argv)

    if not given("-f", "--locustfile"):
        argv = ["-f", str(LOCUSTFILE), *argv]
    profile = "steady"
    for index, arg in enumerate(argv):
        if arg == "--load-profile" and index + 1 < len(argv):
            profile = argv[index + 1]
        elif arg.startswith("--load-profile="):
            profile = arg.split("=", 1)[1]
    full_history = "--no-csv-full-history" not in argv
    argv = [a for a in argv if a != "--no-csv-full-history"]
    if not given("--csv"):
        argv += ["--csv", f"{reports_dir}/{profile}"]
    if full_history and not given("--csv-full-history"):
        argv += ["--csv-full-history"]
    if not given("--html"):
        argv += ["--html", f"{reports_dir}/{profile}.html"]
    return ["locust", *argv]


def main(args: Sequence[str] | None = None) -> int:
    argv = locust_argv(sys.argv[1:] if args is None else args)
    os.makedirs("reports", exist_ok=True)
    os.execvp(sys.executable, [sys.executable, "-m", *argv])  # replaces this process


if __name__ == "__main__":
    sys.exit(main())
