"""arwsv: fairness-aware speaker verification with adversarial reweighting (ARW).

Importing the package is cheap: torch and speechbrain are imported only by the modules that
train or embed, never by ``arwsv eval``.
"""

__version__ = "0.1.0"
