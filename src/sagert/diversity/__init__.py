"""Anti-collapse: near-duplicate filtering, diversity metrics and taxonomy coverage.

Nothing is imported here: `sagert.config` imports `sagert.diversity.settings`, and that must not
pull in numpy, datasketch or sacrebleu.
"""
