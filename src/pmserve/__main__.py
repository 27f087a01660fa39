"""``python -m pmserve`` = the ``pmserve`` command."""

from pmserve.cli import main

if __name__ == "__main__":
    main()
