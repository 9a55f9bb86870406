"""What an ablation table's seeds allow one to say about the paper's choice.

The paper keeps one row per table (its network); the question a reader has is whether that row
beats each alternative here by more than run-to-run noise. Rows trained with the same seed share
their data order and augmentation draws, so the comparison is paired by seed: a one-sided paired
t-test on the per-seed differences (chosen - alternative), at `ALPHA`. With three seeds that asks
for a mean difference of about 1.7 standard deviations of the differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

ALPHA = 0.05
REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
WITHIN_NOISE = "within noise"
TOO_FEW_SEEDS = "too few seeds"
# Every seed gave the same difference: real training runs scatter, so this is a sign of degenerate runs (every
# pixel or none predicted, in schedules too short to learn), where a t-test's zero spread would read p = 0.
NO_SPREAD = "no spread between seeds"


@dataclass(frozen=True)
class PairedComparison:
    """The paper's chosen row against one alternative, over the seeds both were trained with."""

    alternative: str
    seeds: int
    mean_difference: float  # chosen - alternative
    sd_difference: float
    p_better: float  # one-sided p that the chosen row is not better (in the metric's direction)
    p_worse: float  # one-sided p that the chosen row is not worse
    verdict: str

    def sentence(self, chosen: str, scale: float = 1.0, fmt: str = ".4f") -> str:
        """The comparison in words, with its numbers (differences shown as `format(value * scale, fmt)`, as the
        metric's row prints it: Fa in units of 1e-6)."""
        mean, spread = self.mean_difference * scale, self.sd_difference * scale
        if self.verdict == TOO_FEW_SEEDS:
            return f"{chosen} vs {self.alternative}: {self.seeds} paired seed(s), too few to tell"
        if self.verdict == NO_SPREAD:
            return (f"{chosen} vs {self.alternative}: {mean:+{fmt}} on each of {self.seeds} seeds, "
                    "no spread at all: degenerate runs (e.g. every pixel or none predicted), nothing to tell")
        sd = "-" if math.isnan(spread) else f"{spread:{fmt}}"
        return (f"{chosen} vs {self.alternative}: {mean:+{fmt}} (sd {sd}, {self.seeds} paired "
                f"seeds, one-sided p {min(self.p_better, self.p_worse):.3f}) -> {self.verdict}")


def _one_sided_p(differences: pd.Series) -> tuple[float, float]:
    """(p that the mean difference is <= 0, p that it is >= 0) by a paired t-test (the differences spread)."""
    from scipy.stats import ttest_1samp

    greater = ttest_1samp(differences, 0.0, alternative="greater").pvalue
    less = ttest_1samp(differences, 0.0, alternative="less").pvalue
    return float(greater), float(less)


def paired(chosen: pd.Series, alternative_name: str, alternative: pd.Series, alpha: float = ALPHA,
           lower_is_better: bool = False) -> PairedComparison:
    """One row's per-seed scores against another's (both indexed by seed), paired over their common seeds:
    the one test every ablation verdict uses, so that two statements on one page never disagree. "Better" is
    higher unless `lower_is_better` (a false-alarm rate); the mean difference is chosen - alternative either way."""
    differences = (chosen - alternative).dropna()
    if len(differences) < 2:
        return PairedComparison(alternative_name, len(differences), math.nan, math.nan, math.nan, math.nan,
                                TOO_FEW_SEEDS)
    if differences.std(ddof=1) == 0:
        return PairedComparison(alternative_name, len(differences), float(differences.mean()), 0.0, math.nan,
                                math.nan, NO_SPREAD)
    p_better, p_worse = _one_sided_p(-differences if lower_is_better else differences)
    verdict = REPRODUCED if p_better < alpha else NOT_REPRODUCED if p_worse < alpha else WITHIN_NOISE
    return PairedComparison(alternative_name, len(differences), float(differences.mean()),
                            float(differences.std(ddof=1)), p_better, p_worse, verdict)


def seed_scores(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Seed x preset table of `metric` (a preset run twice with one seed: the mean)."""
    return results.pivot_table(index="seed", columns="preset", values=metric, aggfunc="mean")


def paired_comparisons(results: pd.DataFrame, chosen: str, metric: str, alpha: float = ALPHA,
                       lower_is_better: bool = False) -> list[PairedComparison]:
    """`chosen` against every other preset of `results` (columns preset, seed, `metric`; one table,
    one schedule), paired by seed."""
    scores = seed_scores(results, metric)
    if chosen not in scores.columns:
        return []
    return [paired(scores[chosen], alternative, scores[alternative], alpha, lower_is_better)
            for alternative in scores.columns if alternative != chosen]


def table_verdict(comparisons: list[PairedComparison]) -> str:
    """Reproduced: the chosen row beats every alternative beyond the noise; not reproduced: some
    alternative beats it beyond the noise; otherwise within noise (or too few seeds, or seeds without any
    spread, to say)."""
    if not comparisons or any(c.verdict == TOO_FEW_SEEDS for c in comparisons):
        return TOO_FEW_SEEDS
    if any(c.verdict == NO_SPREAD for c in comparisons):
        return NO_SPREAD
    if any(c.verdict == NOT_REPRODUCED for c in comparisons):
        return NOT_REPRODUCED
    if all(c.verdict == REPRODUCED for c in comparisons):
        return REPRODUCED
    return WITHIN_NOISE
