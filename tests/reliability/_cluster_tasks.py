"""Tasks for test_task_cluster.py's real qcluster: each leaves a file behind, so the test sees it ran."""

from pathlib import Path


def touch(path):
    Path(path).write_text("ran")
    return path
