"""Option and params checks shared by the commands: outputs, budgets, invalid shares."""

from __future__ import annotations

import errno
import os

import pytest
import typer

from features.files import atomic_write
from pipeline.common import budget_amount, invalid_share, writable_output


def test_writable_output_creates_the_directory_and_leaves_nothing(tmp_path):
    target = tmp_path / "new" / "dir" / "scores.csv"
    writable_output(target)
    assert target.parent.is_dir() and list(target.parent.iterdir()) == []


def test_writable_output_refuses_a_file_as_directory(tmp_path, capsys):
    (tmp_path / "wall").write_text("x")
    with pytest.raises(typer.Exit) as info:
        writable_output(tmp_path / "wall" / "scores.csv")
    assert info.value.exit_code == 1
    err = capsys.readouterr().err
    assert "error: cannot write" in err and "wall is a file, not a directory" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_writable_output_refuses_a_read_only_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(typer.Exit):
        writable_output(ro / "scores.csv")
    assert "Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "-5", "abc", ""])
def test_budget_must_be_finite_and_non_negative(value):
    with pytest.raises(ValueError):
        budget_amount(value)


def test_budget_accepts_numbers():
    assert budget_amount("0") == 0 and budget_amount("12500.5") == 12500.5


@pytest.mark.parametrize("value", ["abc", 2, -0.1, None, True, float("nan")])
def test_invalid_share_is_a_number_from_0_to_1(value):
    with pytest.raises(ValueError, match="validate.max_invalid_share"):
        invalid_share(value)


def test_invalid_share_accepts_fractions():
    assert invalid_share("0.3") == 0.3 and invalid_share(0) == 0.0 and invalid_share(1) == 1.0


def test_failed_write_names_the_target_not_the_temporary_file(tmp_path):
    def full(tmp: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)

    target = tmp_path / "rejects.csv"
    with pytest.raises(OSError) as info:
        atomic_write(target, full)
    assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []
