"""The main job on an embedded default, no download: make a small synthetic detection dataset,
train a GhostNet RetinaNet on it on the CPU (a few minutes), print its test mAP, and draw its
detections on a held-out image.

    make quickstart            (= .venv/bin/python tools/quickstart.py)
"""
import argparse

from mmengine.config import DictAction

import ghostdet  # noqa: F401
from ghostdet.apis.quickstart import QUICKSTART_CONFIG, run_quickstart


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=QUICKSTART_CONFIG)
    parser.add_argument('--work-dir', help='defaults to the config\'s work_dir')
    parser.add_argument('--data-root', help='where the dataset is made (config\'s data_root)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    return run_quickstart(args.config, args.work_dir, args.data_root, args.cfg_options)


if __name__ == '__main__':
    main()
