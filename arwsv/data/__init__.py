"""Training and test data: corpus preparation, manifests, audio crops, batch sampling, features.

``voxceleb`` and ``toy/`` prepare corpora (SpeechBrain manifests and VoxCeleb-format trial lists,
written by ``manifest``); ``dataio`` reads audio and cuts fixed-length random crops; ``sampler``
draws P speakers x K utterances per batch (resumable mid-epoch); ``features`` is SpeechBrain's
Fbank with per-utterance mean normalisation.

May import: ``arwsv.io``, ``arwsv.errors``.
"""
