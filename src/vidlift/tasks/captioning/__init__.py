"""Video captioning (:mod:`.task`): a CLIP4Caption-style decoder, greedy and beam search, COCO caption metrics."""
