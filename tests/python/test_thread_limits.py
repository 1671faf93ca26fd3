"""Threads and processes that cannot be started end the run at once with a one-line reason
(never a hang), and SIGTERM ends a run promptly however many I/O threads it has. The limits
are set with RLIMIT_NPROC, which binds only unprivileged users and counts every task of the
user: run as root, imgprep runs as a user id of this test process's own (no account, so no other
process of that user, not even another test run's, takes from the limit) on copies of the inputs
in a folder of its own."""

import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import IMGPREP, write_list


@pytest.fixture
def workspace(sample_dir):
    """A folder anyone can use, holding a copy of the sample set (in/) and room for OUT."""
    root = Path(tempfile.mkdtemp(prefix="imgprep-threads-"))
    os.chmod(root, 0o777)
    shutil.copytree(sample_dir, root / "in")
    os.chmod(root / "in", 0o755)
    yield root
    shutil.rmtree(root)


# An unprivileged user id no account has, one per test process.
TEST_UID = 61000 + os.getpid() % 4000


def limited(tasks):
    """preexec_fn: at most `tasks` processes and threads, as TEST_UID if root."""
    def apply():
        if os.getuid() == 0:
            os.setgroups([])
            os.setgid(TEST_UID)
            os.setuid(TEST_UID)
        resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))
    return apply


def run_limited(workspace, tasks, *args):
    cmd = [str(IMGPREP), "run", str(workspace / "in"), "-o", str(workspace / "out"),
           "--preset", "imagenet", "-q", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          preexec_fn=limited(tasks))


def others_of_test_user():
    """Tasks TEST_UID runs already (they count against its RLIMIT_NPROC): none, unless another
    process took the same id."""
    if os.getuid() != 0:
        return 0
    uid = TEST_UID
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                count += int(next(l for l in text.splitlines()
                                  if l.startswith("Threads:")).split()[1])
    return count


@pytest.mark.parametrize("io_threads", [8, 1000])
def test_io_threads_that_cannot_start_end_the_run(workspace, io_threads):
    # Room for the main thread, the writer and about two readers (TBB starts none with
    # --threads 1); which reader is the first refused depends on what else of the run is alive
    # at that moment, so only its range is checked.
    run = run_limited(workspace, others_of_test_user() + 4, "--threads", "1",
                      "--io-threads", str(io_threads))
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    refused = re.fullmatch(rf"imgprep: cannot start I/O thread (\d+) of {io_threads}: .+", lines[0])
    assert refused and 1 <= int(refused.group(1)) < io_threads, lines[0]
    meta = workspace / "out" / "meta.json"
    assert not meta.exists() or '"complete": false' in meta.read_text()


def test_worker_processes_that_cannot_start_end_the_run(workspace):
    run = run_limited(workspace, others_of_test_user() + 3, "--cpu-engine", "procs",
                      "--workers", "4")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgprep: "), run.stderr
    assert "worker" in lines[0], lines[0]


def test_sigterm_ends_a_run_with_many_io_threads_promptly(workspace):
    images = sorted(p for p in (workspace / "in").rglob("*") if p.suffix in (".jpg", ".png"))
    inputs = write_list(workspace / "inputs.txt", images * 100)
    proc = subprocess.Popen([str(IMGPREP), "run", str(inputs), "-o", str(workspace / "out"),
                             "--preset", "imagenet", "-q", "--threads", "1", "--io-threads",
                             "64"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (workspace / "out" / "journal.jsonl").exists():
        assert proc.poll() is None, "the run ended before it could be stopped"
        time.sleep(0.01)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert time.monotonic() - sent < 5
