"""Auditing a score file: metrics, group evaluation, bootstrap, cohort discovery, reports, plots.

``metrics`` (DET, EER, minDCF on sorted trials), ``fairness`` (gap, std, FDR, GARBE across
groups), ``groups`` (``FairnessEvaluation``: overall and per-group metrics with the speaker
bootstrap), ``bootstrap`` (exact bootstrap replicates from the part of the curve that matters),
``compare`` (``arwsv compare``: two systems, paired differences), ``parallel`` (independent array
work on every core, results as if run in turn), ``cohorts`` (``arwsv audit``: label-free k-means
cohorts ranked by EER), ``report`` (table, JSON, CSV) and ``plots`` (DET curves, per-group EER of
several systems).

May import: ``arwsv.io``, ``arwsv.errors``. No torch: ``arwsv eval`` starts in a fraction of a second.
"""
