"""Capture a face from a webcam or video file, save it and print predictions.

    python capture.py [--device 0 | --source VIDEO] [--out captures/] [--max-frames 300] [--json]
"""

import sys

from faceinsight.capture import main

if __name__ == "__main__":
    sys.exit(main())
