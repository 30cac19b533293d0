"""One module per part of the bench; each has `run(ctx) -> list[Figure]`."""
