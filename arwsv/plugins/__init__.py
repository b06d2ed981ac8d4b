"""ARW for other toolkits' training loops: ``speechbrain`` (``ARWBrain``, ``WeightedAAMCost``).

May import: ``arwsv.training`` and what it may import.
"""
