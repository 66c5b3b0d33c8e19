"""``python -m boamps_etl`` runs the command line."""
from .cli import main

main()
