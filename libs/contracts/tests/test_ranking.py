"""The ranking table names real metrics: a misspelt name would silently rank highest first."""

from zixly_contracts.metrics import METRIC_NAMES
from zixly_contracts.ranking import LOWER_IS_BETTER


def test_every_lower_is_better_name_is_a_metric():
    assert set(LOWER_IS_BETTER) - set(METRIC_NAMES) == set()
