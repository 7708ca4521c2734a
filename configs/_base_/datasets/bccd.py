# BCCD blood cells (real microscope photos, 640x480, 3 classes), converted once with
#   python tools/dataset_converters/voc2coco.py ../shared/data/bccd/BCCD data/bccd \
#       --classes RBC WBC Platelets
# Train on train (205 images), validate on val (87), report on test (72).
bccd_images = '../shared/data/bccd/BCCD/JPEGImages/'
bccd_annotations = 'data/bccd/'
classes = ('RBC', 'WBC', 'Platelets')
train_scales = [(640, 416), (640, 480), (640, 544)]  # multi-scale training
test_scale = (640, 480)

train_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
_dataset = dict(type='CheckedCocoDataset', data_root='', metainfo=dict(classes=classes),
                data_prefix=dict(img=bccd_images))
train_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(_dataset, ann_file=bccd_annotations + 'train.json', pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=2)))
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_dataset, ann_file=bccd_annotations + 'val.json', pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_dataset, ann_file=bccd_annotations + 'test.json', pipeline=test_pipeline,
                 test_mode=True))
val_evaluator = dict(type='CocoMetric', ann_file=bccd_annotations + 'val.json', metric='bbox',
                     classwise=True)
test_evaluator = dict(type='CocoMetric', ann_file=bccd_annotations + 'test.json',
                      metric='bbox', classwise=True)
