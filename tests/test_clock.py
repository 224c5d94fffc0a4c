""" "Today" is the Beijing date wherever the server's clock zone is set (review finding: on a UTC
host a task due yesterday was not overdue until 08:00, and a late report could count as on
time)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import datetime as dt, config; "
    "print(dt.datetime.now().astimezone().utcoffset(), "
    "dt.date.today() == dt.datetime.now(dt.UTC).astimezone("
    "dt.timezone(dt.timedelta(hours=8))).date())"
)


def _probe(**env):
    clean = {k: v for k, v in os.environ.items() if k != "TZ"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_a_utc_host_counts_days_in_beijing_time():
    assert _probe() == ["8:00:00", "True"]


def test_an_explicit_tz_is_kept():
    assert _probe(TZ="UTC0")[0] == "0:00:00"
