"""Faithful stand-ins for the vendor APIs, served together by ``python -m sandbox --port N``."""
