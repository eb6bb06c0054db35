"""Training on a CPU runs in fp32: TRL's bf16 default made a SimPO step 20x slower there."""

from sagert.training.trainer import precision_args


def test_a_cpu_trains_in_fp32_and_a_gpu_keeps_trls_choice():
    assert precision_args(cuda=False) == {"bf16": False, "fp16": False}
    assert precision_args(cuda=True) == {}
