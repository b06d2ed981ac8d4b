"""The toy corpus: real 16 kHz waveforms of many speakers with gender and country labels.

``synth`` is the speech synthesiser, ``espeak`` the optional espeak-ng backend, ``corpus`` draws
the speakers (with a planted demographic imbalance) and writes the corpus in VoxCeleb layout.

Part of ``arwsv.data``: may import ``arwsv.data``, ``arwsv.io``, ``arwsv.errors``.
"""
