"""Anti-collapse: near-duplicate filtering, diversity metrics and taxonomy coverage.

Nothing is imported here: `sagert.settings.run` imports `sagert.settings.dedup`, and that must not
pull in numpy, datasketch or sacrebleu.
"""
