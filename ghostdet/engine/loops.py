"""An epoch-based training loop that resumes mid-epoch without repeating or adding iterations."""
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmdet.registry import LOOPS


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop``, plus: after resuming from a checkpoint saved in the
    middle of an epoch (``CheckpointHook(by_epoch=False)``), the batches of that epoch that were
    already trained are skipped, so a killed run that resumes ends with exactly the iterations
    (and the same data order, the sampler being seeded per epoch) of an uninterrupted run.
    mmengine's own loop replays the whole epoch and overshoots ``max_iters``.

    Skipped batches are still drawn from the dataloader (their images are loaded and dropped),
    which costs their loading time once.
    """

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self._iter - self._epoch * len(self.dataloader)
        if done > 0:
            print_log(
                f'resuming inside epoch {self._epoch + 1}: skipping its first {done} batches, '
                f'trained before the checkpoint at iteration {self._iter}',
                logger='current')
        for idx, data_batch in enumerate(self.dataloader):
            if idx < done:
                continue
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
