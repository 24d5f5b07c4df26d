"""What runs around the sync engine: callback registration (`callbacks`) and webhook intake (`intake`)."""
