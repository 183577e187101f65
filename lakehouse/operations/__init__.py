"""Table operations built from scan + read + data files + transaction, one module each."""
