"""The front half of SAGE-RT: topic expansion, factor sampling, raw text, extraction."""
