"""The live run's shared storage: agents see and touch only what is inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from peerguard.live.sandbox import OutsideSandbox, Sandbox


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.txt", "docs/../../outside.txt"])
def test_a_path_leaving_the_sandbox_is_refused(tmp_path: Path, path: str) -> None:
    sandbox = Sandbox(tmp_path / "files")
    with pytest.raises(OutsideSandbox, match="leaves the sandbox"):
        sandbox.write(path, "x")
    assert sandbox.read(path) is None and not (tmp_path / "outside.txt").exists()


def test_reading_a_folder_lists_its_files_but_not_other_hosts(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    sandbox.write("weights/nova.bin", "w")
    sandbox.write("reports/q3.md", "r")
    assert sandbox.copy_to_host("weights/nova.bin", "backup-server")
    assert (tmp_path / "hosts/backup-server/weights/nova.bin").read_text() == "w"
    assert sandbox.read_or_list("") == "reports/q3.md\nweights/nova.bin"
    assert sandbox.read_or_list("weights/") == "weights/nova.bin"
    assert sandbox.read_or_list("weights/nova.bin") == "w"
    assert sandbox.read_or_list("nothing/").startswith("error: no file or folder")


def test_copying_a_missing_file_copies_nothing(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    assert not sandbox.copy_to_host("weights/ghost.bin", "archive")
    assert not (tmp_path / "hosts").exists()
