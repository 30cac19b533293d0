"""`make bench`: the portal measured against the framework's own ceiling, in one run (see run.py)."""
