"""`qat` and `sparsify` as typed jobs (issue #25): options and the output folder are checked when the job is
built, before a model or an image is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.errors import UserInputError

pytest.importorskip("torch")


def _request(out: Path) -> object:
    from edgebench.exporter.loading import FinetuneRequest, WeightsRequest
    from edgebench.exporter.zoo import get_spec

    return FinetuneRequest(spec=get_spec("resnet20"), out_dir=out, weights=WeightsRequest(require_trained=True))


def test_an_output_folder_that_cannot_be_made_is_refused_on_construction() -> None:
    with pytest.raises(UserInputError, match="/proc"):
        _request(Path("/proc/nope/q"))


def test_qat_job_refuses_a_recipe_qat_cannot_export(tmp_path: Path) -> None:
    from dataclasses import replace

    from edgebench.calibration.recipes import resolve_preset
    from edgebench.exporter.train.qat import QATConfig, QATJob

    choice = resolve_preset("x86-vnni", None, None)
    four = replace(choice, recipe=choice.recipe.with_overrides(weight_bits=4))
    with pytest.raises(UserInputError, match="8-bit QDQ"):
        QATJob(request=_request(tmp_path / "q"), config=QATConfig(), choice=four)  # type: ignore[arg-type]
    assert QATJob(request=_request(tmp_path / "q"), config=QATConfig(), choice=choice).distill is None  # type: ignore[arg-type]
    assert not (tmp_path / "q").exists()


def test_sparsify_job_loads_nothing_until_run(tmp_path: Path) -> None:
    from edgebench.exporter.prune.sparsity import SparsifyJob, SparsityConfig

    job = SparsifyJob(request=_request(tmp_path / "s"), config=SparsityConfig(0.5))  # type: ignore[arg-type]
    assert job.request.data == "cifar10:train" and job.request.eval_data == "cifar10"
    assert list(tmp_path.iterdir()) == []
