"""astrofm.trainer.shutdown: the process group of a job is closed when a command ends."""

import torch.distributed as dist

from astrofm.cli import main
from astrofm.trainer import shutdown


def _one_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    assert dist.is_initialized()


def test_a_successful_command_closes_the_process_group(tmp_path, capsys):
    _one_process_group(tmp_path)
    try:
        assert main(["info"]) == 0
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_failed_command_leaves_the_group_to_the_launcher(tmp_path, capsys):
    _one_process_group(tmp_path)
    try:
        assert main(["embed", str(tmp_path / "missing.fits"), "-o",
                     str(tmp_path / "f.fits"), "-m", "resnet18"]) == 2
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()


def test_shutdown_alone_does_nothing():
    assert not dist.is_initialized()
    shutdown()
    assert not dist.is_initialized()
