"""Reading and writing files: score files, speaker metadata, delimited tables, atomic writes.

``scorefile`` reads every score-file format (SpeechBrain, WeSpeaker, VoxCeleb, Kaldi, CSV) into a
``ScoreTable`` (a plain file with numpy alone, through ``fastread``; any other with pandas);
``metadata`` reads VoxCeleb1/2 and custom speaker metadata; ``tables`` is the delimited-text reader
both share (line numbers for error messages); ``files`` writes outputs through a temporary file and a
rename, so a failed run never leaves a half-written file.

May import: ``arwsv.errors`` only. No torch.
"""
