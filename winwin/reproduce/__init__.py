"""``winwin reproduce``: small-scale versions of the paper's tables on the embedded data, several seeds per
row, cached per (row, seed), reported in ``reports/REPRODUCTION.md`` beside the paper's numbers."""
