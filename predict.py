"""Estimate age, gender and emotion for images: python predict.py PATH [PATH ...] [--json]."""

import sys

from faceinsight.cli import main

if __name__ == "__main__":
    sys.exit(main())
