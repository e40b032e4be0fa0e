"""``python -m praas_kit``: the ``praas`` command line."""

from praas_kit.cli import main

main()
