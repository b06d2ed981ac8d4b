"""arwsv: fairness-aware speaker verification with adversarial reweighting (ARW).

Subpackages, and the one direction imports go (a module imports only from its own subpackage and
from those after it in this list; ``tests/test_layout.py`` checks it)::

    __main__                  ``python -m arwsv``
    cli                       the ``arwsv`` command line
    commands                  one module per subcommand
    experiments | plugins     toy demo and study | ARW in SpeechBrain's Brain
    selection                 label-free choice of a reweighting on development speakers (arwsv select)
    training                  losses, reweighting, the min-max loop, recipes, checkpoints, DDP
    inference                 embeddings and scoring with a trained model
    evaluation | data         score-file audit | corpus preparation, crops, augmentation, sampling, features
    io                        score files, metadata, tables, atomic writes
    errors                    the two exception types

Importing the package is cheap: torch and speechbrain are imported only by the modules that
train or embed, never by ``arwsv eval``.
"""

__version__ = "0.1.0"
