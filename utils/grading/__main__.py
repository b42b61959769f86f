"""python -m utils.grading: the instructor's commands (see utils.grading.cli)."""
import sys

from .cli import main

sys.exit(main())
