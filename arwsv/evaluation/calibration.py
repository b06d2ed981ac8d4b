"""Calibration of verification scores: Cllr, minCllr, actual DCF, and affine calibration.

A score ``s`` is a log-likelihood ratio (LLR) when ``s = log p(s | target) / p(s | non-target)``;
then the Bayes decision for a prior P_tar and costs C_miss, C_fa accepts ``s >= θ`` with
``θ = log(C_fa (1 - P_tar) / (C_miss P_tar))`` (= -logit(P_tar) for unit costs), and nobody has to
choose a threshold. Definitions (Brümmer & du Preez 2006; BOSARIS toolkit):

- **Cllr** = ½ [ mean_targets log2(1 + e^-s) + mean_non-targets log2(1 + e^s) ]: the
  cross-entropy of the LLRs at P_tar = ½, in bits. 0 is perfect, 1 is a system that always says
  ``s = 0`` (knows nothing, claims nothing); a badly calibrated system can exceed 1.
- **minCllr**: the Cllr of the *optimal monotone* recalibration of the same scores: the
  pool-adjacent-violators (PAV) isotonic regression of the target indicator on the score gives a
  posterior ``p(target | s)`` at the empirical prior π; ``logit(p) - logit(π)`` is then an LLR.
  Defined for any score (only the order of the scores matters); ties form one block.
- **calibration loss** = Cllr - minCllr (≥ 0): what calibration, not discrimination, costs.
- **actual DCF** at P_tar: the normalised detection cost of the Bayes decisions above,
  ``(C_miss P_tar FNMR(θ) + C_fa (1 - P_tar) FMR(θ)) / min(C_miss P_tar, C_fa (1 - P_tar))``,
  next to minDCF, which picks the best threshold after the fact.

**Affine calibration** (:class:`AffineCalibration`) maps raw scores to LLRs, ``llr = a s + b``,
fitted by prior-weighted logistic regression (BOSARIS's ``train_linear_calibration``): the targets
carry total weight π, the non-targets 1 - π, and the model's log-odds is ``llr + logit(π)``.
:func:`cross_validated_llr` fits it with **speaker-disjoint** cross-validation: speakers are split
into k folds, and a trial whose speakers lie in folds f and g is calibrated by the model fitted on
the trials that have no speaker in f or g, so no trial's speakers ever calibrate it.

Weights: every metric takes optional per-trial ``weights`` (a trial of weight 2 counts as two),
which is how the speaker bootstrap resamples (see :mod:`arwsv.evaluation.groups`).
"""

from __future__ import annotations

import math
import threading

import numpy as np

__all__ = ["cllr", "pav_llr", "min_cllr", "act_dcf", "bayes_threshold", "AffineCalibration", "CalibrationTerms",
           "cross_validated_llr", "speaker_folds", "reliability"]

LOG2 = math.log(2.0)
_LOADING = threading.Lock()


def _dot(a, b) -> float:
    """Σ a_i b_i without BLAS (whose threads stall when the cores are busy; einsum's loop does not)."""
    return float(np.einsum("i,i->", a, b))


def _weighted(is_target, weights):
    is_target = np.asarray(is_target, dtype=bool)
    w = np.ones(len(is_target)) if weights is None else np.asarray(weights, dtype=np.float64)
    return is_target, w


def cllr(llr, is_target, weights=None) -> float:
    """Cllr in bits of LLRs (N,) with target flags (N,); nan without targets or non-targets."""
    llr = np.asarray(llr, dtype=np.float64)
    is_target, w = _weighted(is_target, weights)
    n_tgt, n_non = w[is_target].sum(), w[~is_target].sum()
    if n_tgt <= 0 or n_non <= 0:
        return float("nan")
    # log(1 + e^x) = logaddexp(0, x): finite for any finite x, and 0 for x = -inf
    miss = np.logaddexp(0.0, -llr[is_target]) @ w[is_target]
    fa = np.logaddexp(0.0, llr[~is_target]) @ w[~is_target]
    return float(0.5 * (miss / n_tgt + fa / n_non) / LOG2)


def _run_starts(sorted_scores) -> np.ndarray:
    """Index of the first trial of each run of equal scores (scores in ascending order)."""
    return np.concatenate(([0], np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1))


_ISOTONIC = []  # the isotonic regression (PAV) in use, found at the first call


def _isotonic_regression():
    """scikit-learn's ``isotonic_regression(y, sample_weight=w, increasing=True)``, the PAV these metrics
    have always used. Where scikit-learn runs SciPy's PAV for it (scikit-learn >= 1.5 with SciPy >= 1.12), that
    PAV is called directly: the same numbers, without importing scikit-learn (a second or more at start-up)
    or the rest of ``scipy.optimize``."""
    if not _ISOTONIC:
        _ISOTONIC.append(_scipy_pava() or _sklearn_isotonic())
    return _ISOTONIC[0]


def _sklearn_isotonic():
    from sklearn.isotonic import isotonic_regression

    return lambda y, w: isotonic_regression(y, sample_weight=w, increasing=True)


def _scipy_pava():
    """SciPy's PAV where scikit-learn's isotonic_regression is a call of it; else None."""
    import importlib.util
    import os

    try:
        import scipy

        sklearn = importlib.util.find_spec("sklearn")
        with open(os.path.join(os.path.dirname(sklearn.origin), "isotonic.py"), encoding="utf-8") as handle:
            source = handle.read()
        # scikit-learn takes SciPy's PAV when SciPy >= 1.12, and then only returns its solution
        major, minor = (int(part) for part in scipy.__version__.split(".")[:2])
        if (major, minor) < (1, 12) or "res = optimize.isotonic_regression(" not in source:
            return None
        pava = _scipy_extension("optimize", "_pava_pybind").pava  # the extension alone
    except Exception:  # any other layout: scikit-learn's own call
        return None

    def isotonic(y, w):
        # what scipy.optimize.isotonic_regression(y, weights=w) does with y and w before and after its PAV
        x = np.array(y, order="C", dtype=np.float64, copy=True)
        wx = np.array(w, order="C", dtype=np.float64, copy=True)
        if np.any(wx <= 0):
            raise ValueError("Weights w must be strictly positive.")
        x, _, _, _ = pava(x, wx, np.full(len(x) + 1, -1, dtype=np.intp))
        return x

    return isotonic


def _scipy_extension(package: str, name: str):
    """A compiled module of SciPy's ``package`` loaded alone (not the package's ``__init__``, which imports
    much more), registered under its own name so that a later import of the package finds this one."""
    import importlib.machinery
    import importlib.util
    import os
    import sys

    import scipy

    full = f"scipy.{package}.{name}"
    with _LOADING:  # one load, whichever thread asks first
        if full in sys.modules:
            return sys.modules[full]
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(os.path.dirname(scipy.__file__), package, name + suffix)
            if os.path.exists(path):
                loader = importlib.machinery.ExtensionFileLoader(full, path)
                module = importlib.util.module_from_spec(importlib.util.spec_from_loader(full, loader))
                loader.exec_module(module)
                sys.modules[full] = module
                return module
    raise ImportError(full)


def _expit():
    """``scipy.special.expit`` (the same ufunc: scipy.special exports its ``_special_ufuncs``' own), without
    importing the rest of scipy.special (0.2 s or more)."""
    try:
        return _scipy_extension("special", "_special_ufuncs").expit
    except Exception:  # another layout: the public import
        from scipy.special import expit

        return expit


def _pav_runs(t, n) -> np.ndarray:
    """PAV posterior of each run of tied scores from its target and non-target weight (R,) each;
    nan for runs that weigh nothing (speakers not drawn)."""
    isotonic_regression = _isotonic_regression()  # the PAV itself (on data already in order)
    total = t + n
    used = total > 0
    posterior = np.full(len(t), np.nan)
    if used.any():
        posterior[used] = isotonic_regression(t[used] / total[used], total[used])
    return posterior


def _pav_blocks(sorted_scores, tgt_w, non_w):
    """PAV on trials in ascending score order, ties pooled: per run of equal scores its target and
    non-target weight, the run's PAV posterior, and the run index of every trial."""
    starts = _run_starts(sorted_scores)
    marks = np.zeros(len(sorted_scores), dtype=np.int64)
    marks[starts] = 1
    t, n = np.add.reduceat(tgt_w, starts), np.add.reduceat(non_w, starts)
    return t, n, _pav_runs(t, n), np.cumsum(marks) - 1


def _posterior_llr(posterior, prior):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(posterior) - np.log1p(-posterior) - (math.log(prior) - math.log1p(-prior))


def pav_llr(scores, is_target, weights=None) -> np.ndarray:
    """The LLRs (N,) of the optimal monotone calibration of ``scores`` (N,), trial order kept.

    ±inf where the PAV posterior is 0 or 1 (a score range holding one class only); nan everywhere
    without targets or non-targets."""
    scores = np.asarray(scores, dtype=np.float64)
    is_target, w = _weighted(is_target, weights)
    if len(scores) == 0:
        return np.zeros(0)
    order = np.argsort(scores, kind="stable")
    tgt_w = np.where(is_target[order], w[order], 0.0)
    t, n, posterior, run_of = _pav_blocks(scores[order], tgt_w, w[order] - tgt_w)
    if t.sum() <= 0 or n.sum() <= 0:  # one class (or no weight): no likelihood ratio
        return np.full(len(scores), np.nan)
    prior = t.sum() / (t.sum() + n.sum())
    out = np.empty(len(scores))
    out[order] = _posterior_llr(posterior, prior)[run_of]
    return out


def _min_cllr_runs(t, n) -> float:
    """minCllr from the target and non-target weight of each run of tied scores (R,) each."""
    n_tgt, n_non = t.sum(), n.sum()
    if n_tgt <= 0 or n_non <= 0:
        return float("nan")
    used = (t + n) > 0  # runs of undrawn speakers take no part
    t, n = t[used], n[used]
    posterior = _pav_runs(t, n)
    # PAV pools runs into blocks of one posterior: sum each block's weights and pay once per block
    blocks = _run_starts(posterior)
    t, n, posterior = np.add.reduceat(t, blocks), np.add.reduceat(n, blocks), posterior[blocks]
    with np.errstate(divide="ignore", invalid="ignore"):
        # targets pay -log2 of the posterior odds scaled to P_tar = ½, non-targets likewise; a block
        # with no targets (posterior 0) costs its targets nothing (there are none): 0 * inf -> 0
        llr = _posterior_llr(posterior, n_tgt / (n_tgt + n_non))
        miss = np.where(t > 0, t * np.logaddexp(0.0, -llr), 0.0).sum()
        fa = np.where(n > 0, n * np.logaddexp(0.0, llr), 0.0).sum()
    return float(0.5 * (miss / n_tgt + fa / n_non) / LOG2)


def min_cllr(scores, is_target, weights=None, order=None) -> float:
    """minCllr in bits: the Cllr after the optimal monotone (PAV) calibration; any scores (N,).

    ``order`` (N,): a permutation sorting ``scores`` ascending, if known (ties in any order: the PAV works
    on runs of tied scores, and a run's weights are whole numbers, whose sum no order changes)."""
    scores = np.asarray(scores, dtype=np.float64)
    is_target, w = _weighted(is_target, weights)
    if len(scores) == 0:
        return float("nan")
    if order is None:
        order = np.argsort(scores, kind="stable")
    tgt_w = np.where(is_target[order], w[order], 0.0)
    starts = _run_starts(scores[order])
    return _min_cllr_runs(np.add.reduceat(tgt_w, starts), np.add.reduceat(w[order] - tgt_w, starts))


def bayes_threshold(p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """θ = log(C_fa (1 - P_tar) / (C_miss P_tar)): the LLR above which accepting costs less."""
    return math.log(c_fa * (1.0 - p_target)) - math.log(c_miss * p_target)


def act_dcf(llr, is_target, p_target: float, c_miss: float = 1.0, c_fa: float = 1.0, weights=None) -> float:
    """Normalised actual DCF of LLRs (N,) decided at :func:`bayes_threshold` (accept ``llr >= θ``)."""
    llr = np.asarray(llr, dtype=np.float64)
    is_target, w = _weighted(is_target, weights)
    n_tgt, n_non = w[is_target].sum(), w[~is_target].sum()
    if n_tgt <= 0 or n_non <= 0:
        return float("nan")
    accept = llr >= bayes_threshold(p_target, c_miss, c_fa)
    fnmr = w[is_target & ~accept].sum() / n_tgt
    fmr = w[~is_target & accept].sum() / n_non
    cost = c_miss * p_target * fnmr + c_fa * (1.0 - p_target) * fmr
    return float(cost / min(c_miss * p_target, c_fa * (1.0 - p_target)))


class AffineCalibration:
    """``llr = slope * score + offset``, fitted by prior-weighted logistic regression.

    Minimises ``π mean_t log(1 + e^-(z)) + (1 - π) mean_n log(1 + e^z)`` with
    ``z = slope * s + offset + logit(π)`` by Newton's method on the two parameters (each step a
    few vectorised passes; ``benchmarks/bench_calibration.py`` compares it with scikit-learn's
    ``LogisticRegression`` on the same objective). It stops when a full Newton step would gain
    less than ``tol`` (relative). Perfectly separated classes have no finite optimum: the fit then
    stops once the loss is below ``tol``, with a large slope.

    Parameters
    ----------
    prior : float
        π, the effective target prior of the objective (½: Cllr's).
    """

    def __init__(self, prior: float = 0.5, max_iter: int = 100, tol: float = 1e-10):
        if not 0.0 < prior < 1.0:
            raise ValueError(f"prior must be in (0, 1), not {prior}")
        self.prior, self.max_iter, self.tol = prior, max_iter, tol
        self.slope_ = self.offset_ = None
        self.n_iter_ = 0

    def fit(self, scores, is_target, weights=None, init=None) -> "AffineCalibration":
        """Fit on scores (N,) and target flags (N,); needs both classes. ``init``: a starting
        ``(slope, offset)`` [default: the two-Gaussian LLR of these trials]."""
        s = np.asarray(scores, dtype=np.float64)
        is_target, w = _weighted(is_target, weights)
        return self.fit_classes(s[is_target], s[~is_target], None if weights is None else w[is_target],
                                None if weights is None else w[~is_target], init=init)

    def fit_classes(self, target_scores, nontarget_scores, target_weights=None, nontarget_weights=None,
                    init=None) -> "AffineCalibration":
        """:meth:`fit` on the two classes' scores given apart, (N_t,) and (N_n,), optionally weighted."""
        expit = _expit()

        parts = []  # per class: scores, their squares, objective weight of each trial, sign y
        for scores, weights, y in ((target_scores, target_weights, 1.0), (nontarget_scores, nontarget_weights, -1.0)):
            x = np.asarray(scores, dtype=np.float64)
            w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
            total = w.sum()
            if total <= 0:
                raise ValueError("calibration needs target and non-target trials")
            share = self.prior if y > 0 else 1.0 - self.prior
            parts.append((x, x * x, w * (share / total), y, float(_dot(w, x) / total)))
        shift = math.log(self.prior) - math.log1p(-self.prior)
        if init is None:
            # start from the LLR of two equal-variance Gaussians fitted to the classes: near the optimum for
            # most score distributions (Newton then needs a few steps), from these trials alone
            (xt, _, ct, _, mt), (xn, _, cn, _, mn) = parts
            var = _dot(ct, (xt - mt) ** 2) / ct.sum() / 2 + _dot(cn, (xn - mn) ** 2) / cn.sum() / 2
            slope = (mt - mn) / var if var > 0 else 1.0
            theta = np.array([slope, -slope * (mt + mn) / 2])
        else:
            theta = np.array(init, dtype=np.float64)

        def evaluate(th):
            """(objective, σ(-y z) per class) at th; a trial's loss is log(1 + e^{-y z}), finite for
            any finite z (a start far from the optimum cannot make it inf)."""
            margins = [-y * (th[0] * x + (th[1] + shift)) for x, _, _, y, _ in parts]
            # log(1 + e^m) = max(m, 0) + log1p(e^-|m|): logaddexp's value, three times faster here
            value = sum(_dot(c, np.maximum(m, 0.0) + np.log1p(np.exp(-np.abs(m))))
                        for (_, _, c, _, _), m in zip(parts, margins))
            return float(value), [expit(m) for m in margins]

        def newton(theta):
            """Damped Newton from theta: (theta, iterations, converged)."""
            value, ps = evaluate(theta)
            for it in range(1, self.max_iter + 1):
                grad, hess = np.zeros(2), np.zeros((2, 2))
                for (x, xx, c, y, _), p in zip(parts, ps):
                    g, h = c * p, c * p * (1.0 - p)  # d loss / d z = -y p, d² loss / d z² = p (1 - p)
                    hx = _dot(h, x)
                    grad -= y * np.array([_dot(g, x), g.sum()])
                    hess += np.array([[_dot(h, xx), hx], [hx, h.sum()]])
                try:
                    step = np.linalg.solve(hess + 1e-12 * np.trace(hess) * np.eye(2), grad)
                except np.linalg.LinAlgError:
                    return theta, it - 1, False
                decrement = float(grad @ step)  # the Newton decrement: how much a full step can gain
                if not np.isfinite(decrement):  # a saturated start: no curvature to follow
                    return theta, it - 1, False
                if decrement / 2 <= self.tol * value + 1e-15:  # relative; the floor ends separable fits
                    return theta, it - 1, True
                t = 1.0
                while t > 1e-10:  # halve until the objective falls (Newton can overshoot)
                    candidate = theta - t * step
                    new, ps_new = evaluate(candidate)
                    if new < value:
                        break
                    t /= 2
                else:
                    return theta, it - 1, True  # no step gains: as close as float arithmetic gets
                theta, value, ps = candidate, new, ps_new
            return theta, self.max_iter, False

        if init is None:
            # the Gaussian start can saturate the trials (near-separable or quantised scores: a tiny
            # within-class variance), where Newton finds no curvature: start from the flat map then
            z_max = max(float(np.max(np.abs(theta[0] * x + theta[1]), initial=0.0)) for x, *_ in parts)
            if not z_max <= 30.0:
                theta = np.zeros(2)
        theta, self.n_iter_, converged = newton(theta)
        if not converged and init is None and np.any(theta):
            theta, self.n_iter_, _ = newton(np.zeros(2))
        self.slope_, self.offset_ = float(theta[0]), float(theta[1])
        return self

    def transform(self, scores) -> np.ndarray:
        """The LLRs of scores (N,)."""
        if self.slope_ is None:
            raise ValueError("fit first")
        return self.slope_ * np.asarray(scores, dtype=np.float64) + self.offset_


def speaker_folds(n_speakers: int, folds: int, seed: int = 0) -> np.ndarray:
    """Fold (0 .. folds-1) of each speaker code (n_speakers,): a seeded shuffle dealt round-robin."""
    fold = np.empty(n_speakers, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n_speakers)] = np.arange(n_speakers) % folds
    return fold


def cross_validated_llr(scores, is_target, enrol_spk, test_spk, n_speakers: int, *, folds: int = 5,
                        seed: int = 0, prior: float = 0.5):
    """Speaker-disjoint cross-validated affine calibration of every trial.

    Shapes: scores, is_target, enrol_spk, test_spk (N,) -> ``(llr (N,), model (N,))`` where
    ``model[i]`` names the fold pair ``f * folds + g`` (f <= g) whose model calibrated trial i; that
    model was fitted on the trials with no speaker in fold f or g. Raises ``ValueError`` when a
    model has no target or no non-target trial to learn from (too few speakers for ``folds``).
    """
    if folds < 3:
        raise ValueError("speaker-disjoint calibration needs at least 3 folds")
    scores = np.asarray(scores, dtype=np.float64)
    is_target = np.asarray(is_target, dtype=bool)
    fold = speaker_folds(n_speakers, folds, seed)
    fe, ft = fold[np.asarray(enrol_spk)], fold[np.asarray(test_spk)]
    model = np.minimum(fe, ft) * folds + np.maximum(fe, ft)
    # the trials of each fold pair ("cell"), split by class, once: a model's training set is the
    # union of the cells that touch neither of its folds, so no pass over all trials per model
    keys = np.unique(model)
    by_cell = np.argsort(model, kind="stable")
    bounds = np.searchsorted(model[by_cell], keys, side="left").tolist() + [len(model)]
    cells = {}
    for key, lo, hi in zip(keys.tolist(), bounds[:-1], bounds[1:]):
        rows = by_cell[lo:hi]
        cells[key] = (scores[rows[is_target[rows]]], scores[rows[~is_target[rows]]])
    llr = np.empty(len(scores))
    jobs = []
    for key, lo, hi in zip(keys.tolist(), bounds[:-1], bounds[1:]):
        f, g = divmod(key, folds)
        allowed = [k for k in cells if not {*divmod(k, folds)} & {f, g}]
        if not (sum(len(cells[k][0]) for k in allowed) and sum(len(cells[k][1]) for k in allowed)):
            raise ValueError(f"fold pair ({f}, {g}) leaves no target or no non-target trial to calibrate on; "
                             f"too few speakers for {folds} folds")
        jobs.append((by_cell[lo:hi], allowed))

    def fit(job):  # each model's fit alone, whichever thread runs it
        rows, allowed = job
        tgt = np.concatenate([cells[k][0] for k in allowed])
        non = np.concatenate([cells[k][1] for k in allowed])
        return AffineCalibration(prior).fit_classes(tgt, non).transform(scores[rows])

    from arwsv.evaluation.parallel import thread_map

    _expit()  # loaded once, before the threads
    for (rows, _), values in zip(jobs, thread_map(fit, jobs)):
        llr[rows] = values
    return llr, model


class CalibrationTerms:
    """The calibration metrics of one set of trials, exact under speaker-bootstrap weights.

    A replicate gives speaker ``s`` the multiplicity ``c_s``; a target trial weighs ``c_enrol`` and a
    non-target trial ``c_enrol c_test`` (as in :mod:`arwsv.evaluation.bootstrap`). Cllr and actual
    DCF are sums of fixed per-trial terms, so a replicate needs no pass over the trials: the target
    sums are dot products with per-speaker totals, the non-target sums quadratic forms ``c^T Q c``
    of sparse speaker-pair totals. minCllr needs the PAV of the reweighted trials: one gather of the
    weights in the LLR order sorted once here (or given as ``order``), then the PAV of
    scikit-learn's ``isotonic_regression``.

    Parameters
    ----------
    llr : ndarray (N,)
    is_target : ndarray of bool (N,)
    enrol, test : ndarray of int (N,), speaker codes < ``n_speakers``
    p_targets : tuple of float, with ``c_miss``, ``c_fa``: the actual-DCF operating points

    ``measure(multiplicity=None) -> dict`` with ``cllr``, ``min_cllr``, ``cal_loss`` (= Cllr -
    minCllr) and ``act_dcf@P`` for each P (nan where a class is missing).
    """

    def __init__(self, llr, is_target, enrol, test, n_speakers: int, p_targets=(0.01,), c_miss: float = 1.0,
                 c_fa: float = 1.0, order=None):
        self.llr = np.asarray(llr, dtype=np.float64)
        self.order = order  # a permutation sorting llr ascending (ties in any order), if the caller has one
        self.is_target = np.asarray(is_target, dtype=bool)
        self.enrol, self.test = np.asarray(enrol, dtype=np.intp), np.asarray(test, dtype=np.intp)
        self.n_speakers = n_speakers
        self.p_targets, self.c_miss, self.c_fa = tuple(p_targets), c_miss, c_fa
        self._ready = False  # the bootstrap's totals are built at the first replicate

    def _prepare(self) -> None:
        from scipy import sparse

        if self.order is None:
            self.order = np.argsort(self.llr, kind="stable")
        order = self.order
        self._sorted_llr = self.llr[order]
        self._starts = _run_starts(self._sorted_llr) if len(order) else np.zeros(0, dtype=np.int64)
        self._sorted_tgt = self.is_target[order]
        self._sorted_enrol, self._sorted_test = self.enrol[order], self.test[order]
        tgt, non = self.is_target, ~self.is_target
        te, ne, nt = self.enrol[tgt], self.enrol[non], self.test[non]

        def per_speaker(values):
            return np.bincount(te, weights=values, minlength=self.n_speakers)

        def per_pair(values):
            matrix = sparse.csr_matrix((values, (ne, nt)), shape=(self.n_speakers, self.n_speakers))
            matrix.sum_duplicates()
            return matrix

        self._t_count = per_speaker(np.ones(len(te)))
        self._t_cllr = per_speaker(np.logaddexp(0.0, -self.llr[tgt]) / LOG2)
        self._n_count = per_pair(np.ones(len(ne)))
        self._n_cllr = per_pair(np.logaddexp(0.0, self.llr[non]) / LOG2)
        self._misses, self._false_alarms = {}, {}
        for p in self.p_targets:
            theta = bayes_threshold(p, self.c_miss, self.c_fa)
            self._misses[p] = per_speaker((self.llr[tgt] < theta).astype(np.float64))
            self._false_alarms[p] = per_pair((self.llr[non] >= theta).astype(np.float64))
        self._ready = True

    def measure(self, multiplicity=None) -> dict:
        if multiplicity is None:
            out = {"cllr": cllr(self.llr, self.is_target),
                   "min_cllr": min_cllr(self.llr, self.is_target, order=self.order)}
            out["cal_loss"] = out["cllr"] - out["min_cllr"]
            for p in self.p_targets:
                out[f"act_dcf@{p:g}"] = act_dcf(self.llr, self.is_target, p, self.c_miss, self.c_fa)
            return out
        if not self._ready:
            self._prepare()
        c = np.asarray(multiplicity, dtype=np.float64)
        n_tgt, n_non = float(c @ self._t_count), float(c @ (self._n_count @ c))
        nan = float("nan")
        if n_tgt <= 0 or n_non <= 0:
            return {"cllr": nan, "min_cllr": nan, "cal_loss": nan, **{f"act_dcf@{p:g}": nan for p in self.p_targets}}
        out = {"cllr": 0.5 * (float(c @ self._t_cllr) / n_tgt + float(c @ (self._n_cllr @ c)) / n_non)}
        e = c[self._sorted_enrol]
        tgt_w = np.where(self._sorted_tgt, e, 0.0)
        non_w = np.where(self._sorted_tgt, 0.0, e * c[self._sorted_test])
        out["min_cllr"] = _min_cllr_runs(np.add.reduceat(tgt_w, self._starts), np.add.reduceat(non_w, self._starts))
        out["cal_loss"] = out["cllr"] - out["min_cllr"]
        for p in self.p_targets:
            fnmr = float(c @ self._misses[p]) / n_tgt
            fmr = float(c @ (self._false_alarms[p] @ c)) / n_non
            cost = self.c_miss * p * fnmr + self.c_fa * (1.0 - p) * fmr
            out[f"act_dcf@{p:g}"] = cost / min(self.c_miss * p, self.c_fa * (1.0 - p))
        return out


def reliability(llr, is_target, bins: int = 10) -> tuple:
    """Reliability of LLRs (N,): ``(claimed (B,), observed (B,))`` over ``bins`` quantile bins, where
    claimed is the bin's mean LLR and observed the LLR its trials show: log(targets / non-targets in
    the bin) - log(targets / non-targets overall). Calibrated LLRs lie on observed = claimed. Bins
    holding one class only are left out (their observed LLR is infinite)."""
    llr = np.asarray(llr, dtype=np.float64)
    is_target = np.asarray(is_target, dtype=bool)
    n_tgt, n_non = int(is_target.sum()), int((~is_target).sum())
    if n_tgt == 0 or n_non == 0:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(llr, kind="stable")
    claimed, observed = [], []
    for part in np.array_split(order, min(bins, len(order))):
        t = int(is_target[part].sum())
        if 0 < t < len(part):
            claimed.append(float(llr[part].mean()))
            observed.append(math.log(t / (len(part) - t)) - math.log(n_tgt / n_non))
    return np.array(claimed), np.array(observed)
