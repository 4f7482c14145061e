"""`python -m reconciler` runs the ace CLI."""

from reconciler.cli.app import main

main()
