"""Training with adversarial reweighting: losses, sample weights, the min-max loop, runs, checkpoints.

``losses`` (pairwise logistic and AAM-softmax metric losses), ``reweighting`` (``Adversary``,
``RegionPriors``, ``sample_weights``, ``pairwise_weights`` and the APS / PL / oracle variants),
``trainer`` (``MinMaxTrainer``: the min-max loop, in one file), ``recipe`` (loading a hyperpyyaml
recipe with overrides), ``run`` (building a trainer from a recipe, validation, the final model),
``checkpoint`` (crash-safe SpeechBrain checkpoints) and ``distributed`` (torchrun / DDP helpers).

May import: ``arwsv.inference``, ``arwsv.evaluation``, ``arwsv.data``, ``arwsv.io``, ``arwsv.errors``.
"""
