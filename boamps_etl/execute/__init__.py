"""Where work runs: worker processes and the signals that stop them."""
