"""Generated NumPy modules (do not edit): `grokking derive` writes them."""
