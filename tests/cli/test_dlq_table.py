"""``zixly dlq list`` as a table: every column as wide as its widest cell, long errors cut with "…"."""

from __future__ import annotations

from datetime import UTC, datetime

from zixly.dlq import ERROR_WIDTH, DeadLetter, render_table
from zixly_contracts.failures import Failure


def letter(offset: int, reason: str, message: str) -> DeadLetter:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    failure = Failure(
        reason=reason,
        original_topic="backtests.tasks",
        original_partition=11,
        original_offset=offset,
        original_ce_id="ce-1",
        attempts=8,
        first_error_class="ValidationError",
        first_error_message=message,
        last_error_class="ValidationError",
        last_error_message=message,
        first_failed_at=now,
        last_failed_at=now,
    )
    return DeadLetter(
        topic="backtests.tasks.dlq",
        partition=11,
        offset=offset,
        key=None,
        value=b"{}",
        headers=failure.to_headers(),
        redriven=False,
    )


def test_columns_line_up_and_a_long_error_ends_in_an_ellipsis() -> None:
    long_error = "8 validation errors for SweepSpec\n" + "field required " * 20
    table = render_table([letter(1234567, "validation", long_error), letter(2, "poison", "short")])
    header, first, second = table.splitlines()
    assert header.split() == ["ref", "reason", "tries", "error", "redriven"]
    redriven_at = header.index("redriven")
    assert first[redriven_at:] == "no"
    assert second[redriven_at:] == "no"
    error = first[header.index("error") : redriven_at].rstrip()
    assert len(error) == ERROR_WIDTH
    assert error.endswith("…")
    assert "\n" not in error
    assert first[header.index("reason") :].startswith("validation")
