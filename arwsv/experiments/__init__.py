"""Experiments on the toy corpus: the demo, the multi-seed study, the training-free baseline, simulated scores.

``demo`` (``arwsv demo``), ``study`` (``arwsv study``), ``baseline`` (filterbank + LDA embedding,
``arwsv baseline``) and ``simulate`` (synthetic score files with planted group gaps, for tests and
benchmarks).

May import: ``arwsv.training``, ``arwsv.inference``, ``arwsv.evaluation``, ``arwsv.data``,
``arwsv.io``, ``arwsv.errors``.
"""
