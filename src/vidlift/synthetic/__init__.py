"""The synthetic world: vidlift's own small, real video-text world for machines without
datasets or hub weights.

- :mod:`.scene`, :mod:`.stills`, :mod:`.motions`, :mod:`.scenarios`: a procedural renderer of
  shapes, colours, textures and motions, as stills (for pretraining) and as programs of events
  (for videos);
- :mod:`.language`, :mod:`.questions`: captions, queries and questions that name what is drawn;
- :mod:`.synth`, :mod:`.formats`: ``vidlift synth``, real video files plus annotations in the
  public dataset formats (Kinetics CSV, SSv2 JSON, MSR-VTT, QVHighlights, NExT-QA, MSRVTT-QA);
- :mod:`.pretrain`, :mod:`.recipe`: the recipe of the ``tiny`` ILFM, a small CLIP the project
  pretrains on captioned stills (shipped in ``assets/tiny``, docs/tiny_ilfm.md);
- :mod:`.demo`: ``vidlift demo`` (what ``make demo`` runs).

Nothing outside this package depends on it except the commands and the tests; the shipped
``tiny`` checkpoint is found by path, not by import.
"""
