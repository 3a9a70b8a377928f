"""The one place astrofm builds a Lightning ``Trainer``.

:func:`astrofm.embed`, :meth:`Classifier.fit <astrofm.classify.Classifier.fit>` and
:meth:`Detector.fit <astrofm.detect.Detector.fit>` all run through Lightning, so one
call scales from a laptop CPU to many GPUs on many nodes. The options that decide where
a job runs (:data:`PLACEMENT`: ``device``, ``devices``, ``num_nodes``, ``strategy``) are
passed to Lightning as they are; astrofm adds no launcher of its own, so ``torchrun``,
SLURM's ``srun`` and Lightning's own process launcher all work.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["PLACEMENT", "make_trainer", "is_global_zero", "barrier", "global_rank", "shutdown"]

#: Keyword arguments, common to every astrofm loop, that say where a job runs. They are
#: Lightning's ``accelerator`` (named ``device`` in astrofm), ``devices``, ``num_nodes``
#: and ``strategy``.
PLACEMENT = ("device", "devices", "num_nodes", "strategy")


def make_trainer(*, device="auto", devices="auto", num_nodes: int = 1, strategy="auto",
                 precision=None, progress: bool = True, callbacks=(), **settings):
    """A Lightning Trainer placed by astrofm's options, quiet about its hardware.

    Parameters
    ----------
    device, devices, num_nodes, strategy
        Lightning's ``accelerator``, ``devices``, ``num_nodes`` and ``strategy``,
        checked beforehand by :func:`astrofm.runtime.check_loop`.
    precision : str, optional
        Lightning's precision; its default when None.
    progress : bool
        Show Lightning's progress bar.
    callbacks : sequence of lightning.pytorch.Callback
    **settings
        Further ``Trainer`` arguments of the calling loop (``max_epochs`` ...).

    Returns
    -------
    lightning.pytorch.Trainer
    """
    import lightning.pytorch as pl

    # Lightning announces hardware and advertises services at info level on every run.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    settings = {"logger": False, "enable_model_summary": False, **settings}
    if precision is not None:
        settings["precision"] = precision
    return pl.Trainer(accelerator=device, devices=devices, num_nodes=num_nodes,
                      strategy=strategy, enable_progress_bar=progress,
                      callbacks=list(callbacks), **settings)


def is_global_zero(trainer) -> bool:
    """Whether this process is the one that writes shared outputs (rank 0 of all nodes)."""
    return bool(trainer.is_global_zero)


def barrier(trainer, name: str) -> None:
    """Wait until every process of ``trainer``'s job reaches this point (no-op alone)."""
    trainer.strategy.barrier(name)


def global_rank() -> int:
    """This process's rank among all processes of a job, 0 when it runs alone.

    Read from the launcher's environment (``torchrun``, SLURM, Lightning's own
    launcher) as Lightning reads it, so code outside a Trainer, such as a study that
    writes one results table for many cells, can leave shared files to rank 0.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


def shutdown() -> None:
    """End this process's part of a multi-process job; call it once, after the last loop.

    Lightning starts the job's process group on the first fit and leaves it open, so
    that later loops of the same script reuse it. Left open, gloo's worker threads
    still hold tensors while the interpreter exits, and the process can abort
    ("terminate called without an active exception") after all its work is done, which
    ``torchrun`` reports as a failed job. ``astrofm`` commands call this when they
    succeed; a Python script run under ``torchrun`` or ``srun`` should call it at its
    end. Nothing happens in a process that runs alone.

    Call it only on success: after an error on one rank, the other ranks may still be
    inside a collective operation, and leaving the group to the launcher avoids a hang.
    """
    dist = sys.modules.get("torch.distributed")  # no process group without it imported
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
