"""eldwyn.services.bounded_wait: the one bounded wait of the deploy's start checks, run by sh."""

import subprocess
import time

from eldwyn.services import bounded_wait


def run(command):
    started = time.monotonic()
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    return result, time.monotonic() - started


def test_returns_as_soon_as_the_check_succeeds(tmp_path):
    flag = tmp_path / "up"
    # The check succeeds on its third try: the wait goes on through failures, then stops.
    result, took = run(bounded_wait(f"n=$((${{n:-0}} + 1)); [ $n -ge 3 ] && touch {flag}", 10, "echo never >&2",
                                    interval=0.1))
    assert result.returncode == 0 and flag.exists() and result.stderr == ""
    assert took < 5


def test_fails_after_the_bound_saying_what_is_missing():
    result, took = run(bounded_wait("missing=' 5222'; false", 2, 'echo "not listening on:$missing" >&2',
                                    interval=0.2))
    assert result.returncode == 1
    assert result.stderr.strip() == "not listening on: 5222"
    assert 1 <= took < 6


def test_a_slow_check_does_not_stretch_the_bound():
    # Each try takes 1.5 s: a count of tries would wait 3 x 1.5 s; the clock stops it at ~2-3 s.
    result, took = run(bounded_wait("sleep 1.5; false", 2, "echo timeout >&2", interval=0.1))
    assert result.returncode == 1 and "timeout" in result.stderr
    assert took < 4.4
