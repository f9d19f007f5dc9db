"""`python -m mintaka.cli`."""

from . import main

main()
