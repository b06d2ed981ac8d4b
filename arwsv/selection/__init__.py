"""Label-free selection of a reweighting method and its settings, on development speakers.

A user has speaker identities only (no gender, no country). :mod:`~arwsv.selection.split` holds some
training speakers out as **development speakers**; every candidate (uniform weights, cluster balance,
crowding at several K and beta, cluster difficulty) is trained on the rest with the same recipe and
seed; :mod:`~arwsv.selection.pseudo_groups` clusters the development speakers by the uniform model into
pseudo-groups and builds their trials (negatives within a pseudo-group, as VoxCeleb1-H within a
nationality and gender); :mod:`~arwsv.selection.rule` compares every candidate with the uniform one on
those trials (paired speaker bootstrap) and picks one, or uniform weights where no candidate helps;
:mod:`~arwsv.selection.signals` turns a reference model's embeddings into per-speaker factors;
:mod:`~arwsv.selection.virtual` plans targeted virtual speakers where a reference model is weakest, each copy
sized to land like a new member of its region (``arwsv virtual-speakers``);
:mod:`~arwsv.selection.run` runs it all in resumable pieces (``arwsv select``).

May import: ``arwsv.training``, ``arwsv.inference``, ``arwsv.evaluation``, ``arwsv.data``, ``arwsv.io``,
``arwsv.errors``.
"""
