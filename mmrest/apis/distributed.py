"""Distributed runs (``--launcher``, ``tools/dist_*.sh``): set-up that works without GPUs too,
and the end of the process group."""
from typing import Any, Mapping

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from ..utils.errors import ConfigError
from .checks import accelerator_available

# Norm layers that synchronise over the process group: CUDA only in torch.
SYNC_NORMS = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm')


def _replace_sync_norms(node: Any) -> int:
    count = 0
    if isinstance(node, Mapping):
        if node.get('type') in SYNC_NORMS:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_sync_norms(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_norms(value)
    return count


def setup_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` (torchrun, ``tools/dist_*.sh``) work without GPUs too.

    mmengine's launcher calls ``torch.cuda.set_device`` and wraps the model with
    ``device_ids=[LOCAL_RANK]``; on CPU the gloo process group is created here (the runner
    then skips its own ``init_dist``), the model is wrapped without device ids, and SyncBN,
    which torch implements for GPUs only, becomes per-process BN.
    """
    if cfg.launcher == 'none' or accelerator_available():
        return
    if cfg.launcher != 'pytorch':
        raise ConfigError(f'--launcher {cfg.launcher} needs GPUs; without them use '
                          '--launcher pytorch (tools/dist_train.sh, tools/dist_test.sh), which '
                          'runs CPU processes on the gloo backend')
    import torch.distributed as dist
    cfg.env_cfg = cfg.get('env_cfg') or ConfigDict()
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                 broadcast_buffers=False,
                                 find_unused_parameters=cfg.get('find_unused_parameters', False))
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    replaced = _replace_sync_norms(cfg.get('model'))
    if replaced and dist.get_rank() == 0:
        print_log(f'no GPU: {replaced} SyncBN layer config(s) replaced by BN (statistics per '
                  'process)', logger='current')


def close_distributed() -> None:
    """End the process group of a distributed run (torchrun, slurm, mpi) once its work is done.

    Left to interpreter shutdown, gloo's worker threads can outlive the interpreter and abort the
    process (``terminate called without an active exception``, exit code -6) after a run that
    succeeded; NCCL warns that the group was not destroyed. Every rank calls this, at the end of
    the tools' ``main`` (after rank 0 has printed): a no-op where no group exists.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
