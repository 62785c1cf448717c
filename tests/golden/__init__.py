"""Golden input/output trees: a fixed input, the run's expected outputs in canonical form."""
