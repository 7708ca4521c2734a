"""Convert a Pascal VOC dataset to COCO json, one file per ImageSets/Main split.

    python tools/dataset_converters/voc2coco.py ../shared/data/bccd/BCCD data/bccd \
        --classes RBC WBC Platelets

writes data/bccd/{train,val,test}.json whose file_name is relative to BCCD/JPEGImages, and prints
per split the images, boxes per class and every degenerate, out-of-image or malformed box it
dropped (or clipped), with its file. A config then reads:
    data_root='../shared/data/bccd/BCCD/', data_prefix=dict(img='JPEGImages/'),
    ann_file='/abs/path/to/data/bccd/train.json', metainfo=dict(classes=('RBC', 'WBC', 'Platelets'))
"""
import argparse

from ghostdet.datasets.voc2coco import DEFAULT_SPLITS, convert_voc_to_coco, read_class_names
from ghostdet.utils.cli import input_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('voc_root', help='folder holding Annotations/, ImageSets/, JPEGImages/')
    parser.add_argument('out_dir', help='where {split}.json are written')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--classes', nargs='+', help='class names in category-id order '
                       '(default: every name in the xml files, sorted)')
    group.add_argument('--classes-file', help='text file with one class name per line')
    parser.add_argument('--splits', nargs='+', default=list(DEFAULT_SPLITS),
                        help='ImageSets/Main/{split}.txt files to convert '
                        '(default: %(default)s)')
    parser.add_argument('--image-prefix', default='',
                        help="prepended to each file_name, e.g. 'JPEGImages/' to make names "
                        'relative to VOC_ROOT (default: relative to VOC_ROOT/JPEGImages)')
    parser.add_argument('--skip-unknown', action='store_true',
                        help='drop and report objects of classes not in the list '
                        '(default: stop with an error naming the file)')
    args = parser.parse_args()
    # a missing folder, split file or image, a malformed xml, an unknown class: one line, exit 2
    with input_errors():
        classes = read_class_names(args.classes_file) if args.classes_file else args.classes
        reports = convert_voc_to_coco(args.voc_root, args.out_dir, classes=classes,
                                      splits=args.splits, image_prefix=args.image_prefix,
                                      skip_unknown=args.skip_unknown)
    dropped = sum(len(r.dropped) for r in reports.values())
    print(f'done: {len(reports)} splits, {sum(r.num_boxes for r in reports.values())} boxes '
          f'written, {dropped} dropped')


if __name__ == '__main__':
    main()
