"""The paired-by-seed verdicts on the paper's chosen ablation row."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import t as student_t

from lwirst.ablation_stats import (
    NO_SPREAD,
    NOT_REPRODUCED,
    REPRODUCED,
    TOO_FEW_SEEDS,
    WITHIN_NOISE,
    paired_comparisons,
    table_verdict,
)


def _rows(scores: dict[str, list[float]], seeds: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame([{"preset": preset, "seed": (seeds or list(range(len(values))))[i], "best_miou": v}
                         for preset, values in scores.items() for i, v in enumerate(values)])


def test_a_consistent_lead_beyond_the_spread_is_reproduced_and_its_p_is_the_t_tests() -> None:
    rows = _rows({"chosen": [0.70, 0.72, 0.69], "alt": [0.60, 0.61, 0.60]})
    (comparison,) = paired_comparisons(rows, "chosen", "best_miou")
    differences = pd.Series([0.10, 0.11, 0.09])
    t_stat = differences.mean() / (differences.std(ddof=1) / math.sqrt(3))
    assert comparison.mean_difference == pytest.approx(0.10)
    assert comparison.p_better == pytest.approx(student_t.sf(t_stat, df=2))
    assert comparison.verdict == REPRODUCED and table_verdict([comparison]) == REPRODUCED
    assert "-> reproduced" in comparison.sentence("chosen")


def test_a_lead_smaller_than_the_spread_is_noise_and_a_loss_beyond_it_is_not_reproduced() -> None:
    rows = _rows({"chosen": [0.70, 0.60, 0.66], "noisy": [0.65, 0.66, 0.62], "better": [0.80, 0.71, 0.75]})
    verdicts = {c.alternative: c.verdict for c in paired_comparisons(rows, "chosen", "best_miou")}
    assert verdicts == {"noisy": WITHIN_NOISE, "better": NOT_REPRODUCED}
    assert table_verdict(paired_comparisons(rows, "chosen", "best_miou")) == NOT_REPRODUCED
    only_noise = rows[rows["preset"] != "better"]
    assert table_verdict(paired_comparisons(only_noise, "chosen", "best_miou")) == WITHIN_NOISE


def test_only_seeds_both_rows_share_are_paired() -> None:
    chosen = _rows({"chosen": [0.7, 0.7, 0.7]}, seeds=[0, 1, 2])
    alt = _rows({"alt": [0.1, 0.6]}, seeds=[2, 5])  # only seed 2 is shared
    (comparison,) = paired_comparisons(pd.concat([chosen, alt]), "chosen", "best_miou")
    assert comparison.seeds == 1 and comparison.verdict == TOO_FEW_SEEDS
    assert table_verdict([comparison]) == TOO_FEW_SEEDS and table_verdict([]) == TOO_FEW_SEEDS
    assert paired_comparisons(alt, "chosen", "best_miou") == []


def test_identical_differences_tell_nothing() -> None:
    """Two degenerate runs per row (every pixel predicted, or none) differ by the same amount on every seed;
    a zero spread read as p = 0 called the paper's choice "reproduced"."""
    rows = _rows({"chosen": [0.000576, 0.000576], "alt": [0.0, 0.0]})
    (comparison,) = paired_comparisons(rows, "chosen", "best_miou")
    assert comparison.verdict == NO_SPREAD and math.isnan(comparison.p_better)
    assert table_verdict([comparison]) == NO_SPREAD
    assert "no spread at all" in comparison.sentence("chosen")


def test_a_lower_is_better_score_reads_a_lower_chosen_row_as_the_better_one() -> None:
    """A false-alarm rate is better lower: the same per-seed gap that a higher-is-better score reproduces is, for
    it, a loss; the mean difference stays chosen - alternative either way."""
    rows = _rows({"chosen": [0.70, 0.72, 0.69], "alt": [0.60, 0.61, 0.60]})
    (higher,) = paired_comparisons(rows, "chosen", "best_miou")
    (lower,) = paired_comparisons(rows, "chosen", "best_miou", lower_is_better=True)
    assert higher.verdict == REPRODUCED and lower.verdict == NOT_REPRODUCED
    assert lower.mean_difference == pytest.approx(higher.mean_difference) == pytest.approx(0.10)
    assert lower.p_worse == pytest.approx(higher.p_better)

