"""Alignment training on sagert data (TRL); needs the [train] extra."""
