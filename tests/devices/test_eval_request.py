"""`eval --on` sends a typed, versioned `EvalRequest` (devices/jobs.py), not a command line rebuilt from eval's
signature: its JSON trip, its version check, the device's `run-eval` (the same `evaluate_request` as a local eval)
and the one path to a device it shares with bench's job batches. No SSH needed (tests/devices/test_remote.py
runs it over the loopback sshd)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.bench.eval_run import EvalConfig
from edgebench.cli import app
from edgebench.devices.jobs import EVAL_FORMAT, EVAL_VERSION, EvalPreprocessing, EvalRequest
from edgebench.errors import UserInputError
from typer.testing import CliRunner

from tests.devices.conftest import refused_request

runner = CliRunner()


def tiny_eval(root: Path) -> tuple[Path, Path]:
    """A model folder (a two-conv classifier with its manifest) and a 40-image .npz of 16x16 images."""
    from edgebench.atomic import write_json
    from edgebench.manifest import InputInfo, new_manifest
    from edgebench.tools.synthetic import conv_net

    folder = root / "m"
    conv_net(folder / "model.fp32.onnx")
    write_json(folder / "model.fp32.json",
               new_manifest(name="tiny", precision="fp32", input=InputInfo("input", ("batch", 3, 16, 16)).to_dict()))
    rng = np.random.default_rng(0)
    data = root / "d.npz"
    np.savez(data, images=rng.integers(0, 255, (40, 16, 16, 3), dtype=np.uint8), labels=rng.integers(0, 10, 40))
    return folder, data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_eval(tmp_path_factory.mktemp("tiny_eval"))


def _request(tmp_path: Path) -> EvalRequest:
    cfg = EvalConfig(data=str(tmp_path / "d.npz"), annotations=None, limit=7, runtime="ort-cpu", threads=2,
                     batch_size=3, data_dir=tmp_path, download=False, arithmetic="qdq", as_target=False,
                     labels_file=tmp_path / "gt.txt")
    return EvalRequest(str(tmp_path / "m"), cfg, precision="int8", baseline=str(tmp_path / "b.onnx"), no_verify=True,
                       allow_oversubscribe=True, preprocessing=EvalPreprocessing.of(preset="unit", size="16x16",
                                                                                 scale=0.5, resize=18, labels="x"))


def test_an_eval_request_survives_the_json_trip(tmp_path: Path) -> None:
    req = _request(tmp_path)
    text = req.to_json()
    assert (json.loads(text)["format"], json.loads(text)["version"]) == (EVAL_FORMAT, EVAL_VERSION)
    assert EvalRequest.from_json(text) == req
    minimal = EvalRequest.from_json('{"format": "edgebench.eval", "version": 1, "model": "m.onnx"}')
    assert minimal == EvalRequest("m.onnx")  # what a request leaves out takes eval's defaults
    with pytest.raises(UserInputError, match="names no model"):
        EvalRequest.from_json('{"format": "edgebench.eval", "version": 1}')
    with pytest.raises(UserInputError, match="runtime options come from its --precision"):
        EvalRequest("m.onnx", EvalConfig(runtime_options=object()))  # type: ignore[arg-type]


def test_its_paths_are_mapped_to_the_pushed_copies(tmp_path: Path) -> None:
    (tmp_path / "d.npz").write_bytes(b"x")
    req = _request(tmp_path)
    models, paths = req.local_files()
    assert models == (tmp_path / "m", tmp_path / "b.onnx")
    assert [flag for flag, _ in paths] == ["--data", "--data-dir", "--labels-file"]
    where = {str(p): f"pushed/{i:064x}" for i, p in enumerate([*models, *(p for _, p in paths)])}
    there = EvalRequest.from_json(req.on_device(where).to_json())
    c = there.config
    assert (there.model, there.baseline, c.data, c.data_dir, c.labels_file) == (
        f"pushed/{0:064x}", f"pushed/{1:064x}", f"pushed/{2:064x}", Path(f"pushed/{3:064x}"), Path(f"pushed/{4:064x}"))
    # each data file's content digest (the pushed folder's name) travels with it, for the device to check
    assert there.data_sha256 == (("--data", f"{2:064x}"), ("--data-dir", f"{3:064x}"), ("--labels-file", f"{4:064x}"))
    assert (c.limit, c.threads, c.runtime, c.arithmetic, there.precision) == (7, 2, "ort-cpu", "qdq", "int8")
    named = EvalRequest("m.onnx", EvalConfig(data="cifar10"))  # a dataset's name is no local path: sent as given
    assert named.local_files() == ((Path("m.onnx"),), ())
    assert named.on_device({"m.onnx": "pushed/m.onnx"}).config.data == "cifar10"
    with pytest.raises(UserInputError, match="was not pushed"):
        req.on_device({str(tmp_path / "m"): f"pushed/{0:064x}"})


@pytest.mark.parametrize("change, why", [
    ({"version": EVAL_VERSION + 1}, "this edgebench reads version 1"),
    ({"format": "edgebench.jobs"}, "is not an edgebench.eval file"),
    ({"surprise": 1}, "unknown fields surprise"),
    ({"config": {"data": "cifar10", "warp": 9}}, "its config is not this edgebench's (unknown fields warp)"),
    ({"preprocessing": {"preset": 3}}, "preset is 3; it must be str or null"),
    ({"no_verify": "yes"}, "no_verify is 'yes'; it must be bool"),
    ({"config": {"data": "cifar10", "limit": True}}, "limit is True; it must be int or null"),
    ({"config": []}, "its config is [], not an object"),
    ({"model": 3}, "the request's model is 3; it must be str"),
    ({"data_sha256": {"--nope": "ab"}}, "its data_sha256 is not this edgebench's (unknown fields --nope)"),
    ({"data_sha256": {"--annotations": "ab" * 32}}, "data_sha256 names '--annotations'"),
    ({"data_sha256": {"--data": "ab" * 32}}, "--data 'cifar10' is not the pushed copy abababababab")])
def test_an_eval_request_of_another_version_is_refused_in_one_line(tmp_path: Path, change: dict[str, Any],
                                                                   why: str) -> None:
    refused_request(tmp_path, ["run-eval"], EvalRequest("m.onnx").to_json(), change, why)


def test_run_eval_prints_what_eval_json_prints(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    """The device side evaluates the request as a local eval does (`evaluate_request`) and prints its JSON."""
    folder, data = tiny
    local = runner.invoke(app, ["eval", str(folder), "-d", str(data), "-n", "30", "-t", "1", "--json"])
    assert local.exit_code == 0, local.output
    f = tmp_path / "eval.json"
    f.write_text(EvalRequest(str(folder), EvalConfig(data=str(data), limit=30, threads=1)).to_json())
    there = runner.invoke(app, ["run-eval", str(f)])
    assert there.exit_code == 0, there.output
    a, b = json.loads(local.stdout), json.loads(there.stdout)
    assert a.pop("seconds") >= 0 and b.pop("seconds") >= 0
    assert a == b and a["n"] == 30 and a["model_sha256"] is not None


def test_eval_on_and_bench_on_take_the_one_path(tmp_path: Path, tiny: tuple[Path, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`eval --on` sends its EvalRequest through `devices.remote.run_jobs_on`, bench's path; no command line."""
    import edgebench.devices.remote as remote

    folder, data = tiny
    sent: list[tuple[str, list[Any], Path | None]] = []

    def run_jobs_on(names: str, requests: list[Any], output_dir: Path | None, **_kw: Any) -> list[Any]:
        sent.append((names, list(requests), output_dir))
        return []

    monkeypatch.setattr(remote, "run_jobs_on", run_jobs_on)
    monkeypatch.setattr(remote, "run_on", lambda *a, **k: pytest.fail("run_on called directly"))
    r = runner.invoke(app, ["eval", str(folder), "-d", str(data), "-n", "5", "-t", "3", "--arithmetic", "host",
                            "--precision", "fp32", "--no-verify", "--preprocessing", "unit", "--on", "pi,pj",
                            "--json"])
    assert r.exit_code == 0, r.output
    (names, (req,), out), = sent
    assert (names, out, type(req)) == ("pi,pj", None, EvalRequest)
    assert (req.model, req.config.data, req.config.limit, req.config.threads, req.config.arithmetic) == (
        str(folder), str(data), 5, 3, "host")
    assert (req.precision, req.no_verify, dict(req.preprocessing.given)["preset"]) == ("fp32", True, "unit")
    assert req.label == "-t 3" and req.command == "run-eval"
    bad = runner.invoke(app, ["eval", str(folder), "-d", str(data), "--arithmetic", "fast", "--on", "pi"])
    assert bad.exit_code == 2 and "--arithmetic 'fast'" in bad.output and len(sent) == 1, bad.output


@pytest.mark.parametrize("args, why", [
    (["-n", "0"], "--limit 0 must be >= 1"),
    (["--batch-size", "0"], "--batch-size 0 must be >= 1"),
    (["--precision", "int9"], "--precision 'int9' is not one of"),
    (["-r", "ort-cpx"], "unknown runtime 'ort-cpx'"),
    (["--as-target", "--arithmetic", "host"], "--as-target means --arithmetic qdq")])
def test_eval_on_checks_its_options_before_anything_is_pushed(tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                              args: list[str], why: str) -> None:
    """Refused on the workstation in one line (they once reached the device, after the connection and the push)."""
    import edgebench.devices.remote as remote

    folder, data = tiny
    monkeypatch.setattr(remote, "run_jobs_on", lambda *a, **k: pytest.fail("sent to the device"))
    r = runner.invoke(app, ["eval", str(folder), "-d", str(data), *args, "--on", "pi"])
    assert r.exit_code == 2 and r.output.startswith("edgebench: error: ") and why in r.output, r.output
    assert r.output.count("\n") == 1, r.output


def test_eval_preprocessing_keeps_what_was_given_and_refuses_other_fields() -> None:
    pre = EvalPreprocessing.of(labels="imagenet", scale=0.5, preset=None, mean="0.5,0.5,0.5")
    assert pre.given == (("mean", "0.5,0.5,0.5"), ("scale", 0.5), ("labels", "imagenet"))  # declared order
    assert pre.labels == "imagenet" and pre.options() == {"mean": "0.5,0.5,0.5", "scale": 0.5}
    assert EvalPreprocessing.of(preset="unit").options() == {"preprocessing": "unit"}
    assert EvalPreprocessing.of(**pre.to_dict()) == pre
    with pytest.raises(UserInputError, match="unknown fields gamma"):
        EvalPreprocessing.of(gamma="2.2")
    with pytest.raises(UserInputError, match="scale"):
        EvalPreprocessing.of(scale="big")


def test_run_eval_checks_the_pushed_data_against_its_hash(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    """The device reads a pushed data file only when its folder's files hash to what the workstation sent
    (`data_sha256`); one changed byte: one line, exit 2, naming the folder, nothing evaluated."""
    import shutil

    from edgebench.devices.push import Bundle, file_bundle

    folder, data = tiny
    bundle, rel = file_bundle(data)
    digest = Bundle.digest(bundle.hashes())
    pushed = tmp_path / "data" / digest / rel
    pushed.parent.mkdir(parents=True)
    shutil.copyfile(data, pushed)
    f = tmp_path / "eval.json"
    f.write_text(EvalRequest(str(folder), EvalConfig(data=str(pushed), limit=5, threads=1),
                             data_sha256=(("--data", digest),)).to_json())
    ok = runner.invoke(app, ["run-eval", str(f)])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["n"] == 5, ok.output
    with open(pushed, "ab") as out:
        out.write(b"\0")
    r = runner.invoke(app, ["run-eval", str(f)])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert f"--data '{pushed.parent}' on this device does not hold what was pushed" in r.output


def test_eval_on_prints_each_device_as_a_local_eval_and_checks_its_dataset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A detector's `eval --on`: each device's figures in the lines a local eval prints, after the device's name;
    a device that scored other images or boxes (its dataset_sha256) is an error; the data is read here first, so
    bad annotations are refused before anything is sent."""
    import edgebench.devices.remote as remote
    from edgebench.devices.registry import Device
    from edgebench.devices.remote import DeviceRun
    from edgebench.tools.synthetic import coco_folder, grid_detector

    grid = np.zeros((7, 2, 2), np.float32)
    grid[0, 0, 0] = grid[5, 0, 0] = 1.0
    model = grid_detector(tmp_path / "det" / "model.fp32.onnx", grid)
    data = coco_folder(tmp_path / "coco", [[(0, [0.0, 0.0, 20.0, 10.0])], []])
    args = ["eval", str(model), "--data", str(data), "-t", "1"]
    local = runner.invoke(app, args)
    here = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert local.exit_code == 0 and "mAP@0.5:0.95" in local.stdout, local.output
    here["seconds"] = float(re.search(r"(\d+\.\d) s\)$", local.stdout.strip()).group(1))  # type: ignore[union-attr]
    answers: list[dict[str, Any]] = [here]

    def run_jobs_on(names: str, requests: list[Any], output_dir: Path | None, **_kw: Any) -> list[DeviceRun]:
        return [DeviceRun(Device(n, "ssh://x"), outputs=[answers[0]]) for n in names.split(",")]

    monkeypatch.setattr(remote, "run_jobs_on", run_jobs_on)
    r = runner.invoke(app, [*args, "--on", "pi,pj"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"[{d}] {line}" for d in ("pi", "pj") for line in local.stdout.splitlines()]
    answers[0] = {**here, "dataset_sha256": "0" * 64}
    r = runner.invoke(app, [*args, "--on", "pi"])
    assert r.exit_code == 2 and "device 'pi' scored another dataset (000000000000...)" in r.output, r.output
    (data / "instances.json").write_text("{")
    monkeypatch.setattr(remote, "run_jobs_on", lambda *a, **k: pytest.fail("sent to the device"))
    r = runner.invoke(app, [*args, "--on", "pi"])
    assert r.exit_code == 2 and "not valid JSON" in r.output and r.output.count("\n") == 1, r.output
