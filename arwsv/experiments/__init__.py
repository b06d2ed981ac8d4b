"""Experiments on the toy corpus: the demo, the multi-seed study, the training-free baseline, simulated scores.

``demo`` (``arwsv demo``), ``study`` (``arwsv study``), ``baseline`` (filterbank + LDA embedding,
``arwsv baseline``), ``bench_study`` and ``select_study`` (``arwsv study --bench`` / ``--select``) and ``simulate`` (synthetic score files with planted group gaps, for tests and
benchmarks).

May import: ``arwsv.selection``, ``arwsv.training``, ``arwsv.inference``, ``arwsv.evaluation``, ``arwsv.data``,
``arwsv.io``, ``arwsv.errors``.
"""
