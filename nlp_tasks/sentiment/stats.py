"""The statistics of a champion/challenger comparison, each from counts (so days pool by adding).

All of them are textbook formulas on top of scipy; the unit tests check them against cases
worked by hand.
"""

from __future__ import annotations

import math

from scipy import stats as _st


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion (good at 0 and 1, where the normal one is not)."""
    if n <= 0:
        return None, None
    ci = _st.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs of a paired design.

    ``only_first``: rows the first model gets right and the second wrong; ``only_second`` the
    reverse. Under the null each discordant row is a fair coin, so p = P(Binomial(b + c, 1/2)
    as far from the middle as observed), i.e. min(1, 2 * P(X <= min(b, c))).
    """
    n = int(only_first) + int(only_second)
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * _st.binom.cdf(min(only_first, only_second), n, 0.5)))


def cohens_kappa(agree: int, rows: int, first_counts: list[int], second_counts: list[int]) -> float | None:
    """Cohen's kappa from the agreeing count and each rater's label counts (same label order).

    None when chance agreement is 1 (both models give one and the same label to every row):
    kappa is undefined there, not perfect.
    """
    if rows <= 0:
        return None
    po = agree / rows
    pe = sum((a / rows) * (b / rows) for a, b in zip(first_counts, second_counts, strict=True))
    if pe >= 1.0 - 1e-12:
        return None
    return (po - pe) / (1.0 - pe)


def rows_for_power(p1: float | None, p2: float | None, alpha: float = 0.05, power: float = 0.80) -> int | None:
    """Rows per model that a difference p1 - p2 of two proportions needs to be detected with
    the given power by a two-sided test at ``alpha`` (the two-proportion sample-size formula):

        n = (z_{1-alpha/2} sqrt(2 pbar qbar) + z_{power} sqrt(p1 q1 + p2 q2))^2 / (p1 - p2)^2

    It treats the two models' rows as independent samples, so for the paired rows of a shadow
    comparison it errs on the safe side. None when there is no difference to detect.
    """
    if p1 is None or p2 is None or p1 == p2:
        return None
    pbar = (p1 + p2) / 2
    za, zb = _st.norm.ppf(1 - alpha / 2), _st.norm.ppf(power)
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return int(math.ceil(num**2 / (p1 - p2) ** 2))
