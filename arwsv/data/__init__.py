"""Training and test data: corpus preparation, manifests, audio, crops, augmentation, batch sampling, features.

``voxceleb`` and ``toy/`` prepare corpora (SpeechBrain manifests and VoxCeleb-format trial lists,
written by ``manifest``); ``noise`` prepares the noise and room-impulse manifests augmentation reads (MUSAN,
RIRS_NOISES, or the toy's synthetic sets); ``audio`` reads audio; ``dataio`` cuts fixed-length random crops of
manifests held as arrays; ``augment`` adds noise, reverberation, drops and speed-perturbed virtual speakers (and
maps their classes back to real speakers); ``sampler`` draws P speakers x K utterances per batch (resumable
mid-epoch); ``features`` is SpeechBrain's Fbank with per-utterance mean normalisation.

May import: ``arwsv.io``, ``arwsv.errors``.
"""
