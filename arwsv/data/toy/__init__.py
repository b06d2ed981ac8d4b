"""The toy corpus: real 16 kHz waveforms of many speakers with gender and country labels.

``synth`` is the speech synthesiser, ``espeak`` the optional espeak-ng backend, ``voices`` draws voices
and accents, ``corpus`` draws the speakers (with a planted demographic imbalance) and writes the corpus in
VoxCeleb layout (and, through :mod:`arwsv.data.noise`, its synthetic noise and RIR sets).

Part of ``arwsv.data``: may import ``arwsv.data``, ``arwsv.io``, ``arwsv.errors``.
"""
