"""Using a trained model: embeddings of whole utterances (``embed``) and trial scoring (``score``).

``embed`` also defines the model-folder layout that training writes (``FINAL_WEIGHTS``) and the
``.npz`` embeddings file format.

May import: ``arwsv.data``, ``arwsv.io``, ``arwsv.errors``.
"""
