"""A model file changed after export is refused on load (bench, profile, eval); --no-verify uses it, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.manifest import InputInfo, Manifest
from typer.testing import CliRunner

QUICK = ["--warmup-iters", "0", "--min-iters", "2", "--min-seconds", "0"]


@pytest.fixture
def tampered(tmp_path: Path) -> Path:
    """A model folder whose manifest records one conv net, and whose .onnx is since another one."""
    from edgebench.tools.synthetic import conv_net

    d = tmp_path / "m"
    d.mkdir()
    onnx = conv_net(d / "model.fp32.onnx")
    m = Manifest(name="tiny", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(onnx)
    (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    conv_net(onnx, seed=1)  # same graph, other weights: the file no longer matches its manifest
    return d


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("command", [["bench", "--in-process", *QUICK], ["profile", "--runs", "2"],
                                     ["eval", "--data", "cifar10"]])
def test_tampered_model_refused_before_anything_is_written(tampered: Path, tmp_path: Path, command: list[str]) -> None:
    out = tmp_path / "out"
    args = [command[0], tampered, *command[1:]] + (["-o", out] if command[0] != "eval" else [])
    r = invoke(*args)
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    assert "changed after export" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_no_verify_runs_and_records_it(tampered: Path, tmp_path: Path) -> None:
    r = invoke("bench", tampered, "--in-process", "-t", "1", "--json", "--no-verify", "-o", tmp_path / "out", *QUICK)
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    v = result["model"]["verification"]
    assert v["matches"] is False and v["no_verify"] is True and v["manifest_sha256"] != result["model"]["sha256"]
    assert any("differs from the sha256" in w for w in result["warnings"])


def test_untouched_model_is_verified_and_recorded(tmp_path: Path) -> None:
    from edgebench.tools.synthetic import conv_net

    d = tmp_path / "m"
    d.mkdir()
    onnx = conv_net(d / "model.fp32.onnx")
    m = Manifest(name="tiny", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(onnx)
    (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    r = invoke("bench", d, "--in-process", "-t", "1", "--json", "-o", tmp_path / "out", *QUICK)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["model"]["verification"] == {"manifest_sha256": m.onnx_sha256, "matches": True,
                                                             "no_verify": False}
