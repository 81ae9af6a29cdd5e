"""Pack UTKFace's training split small enough to carry to a remote GPU machine.

    python -m faceinsight.training.pack --data PATH/TO/utkface --out .pack/utkface-train.tar.gz

Each training chip becomes a grayscale WebP at the model's input side (the size training
reads it at), named ``<original name>.webp`` so its labels and split stay readable from the
name. The validation split is left out, so the remote run cannot choose anything on it.
The pack is made from the dataset: keep it out of the repository.
"""

from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path

import cv2

from faceinsight import images
from faceinsight.datasets import CHIP_SIDE, VAL_FRACTION, utkface_names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="UTKFace's flat folder")
    parser.add_argument("--out", type=Path, required=True, help="the .tar.gz to write")
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION)
    parser.add_argument("--quality", type=int, default=90, help="WebP quality")
    args = parser.parse_args(argv)
    names = utkface_names(args.data, validation=False, val_fraction=args.val_fraction)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(args.out, "w:gz", compresslevel=1) as tar:
        for name in names:
            gray = images.to_gray(images.load_image(args.data / name))
            chip = cv2.resize(gray, (CHIP_SIDE, CHIP_SIDE), interpolation=cv2.INTER_AREA)
            ok, encoded = cv2.imencode(".webp", chip, [cv2.IMWRITE_WEBP_QUALITY, args.quality])
            info = tarfile.TarInfo(f"utkface/{name}.webp")
            info.size = len(encoded)
            tar.addfile(info, io.BytesIO(encoded.tobytes()))
    print(f"{len(names)} training chips -> {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
