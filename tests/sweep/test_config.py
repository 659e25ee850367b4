"""The sweep file: every bad input refused before any work, with the closest name."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.errors import NotFoundError, UserInputError
from edgebench.sweep.config import Precision, load_sweep, parse_sweep

REPO = Path(__file__).resolve().parents[2]


def test_example_file_parses() -> None:
    cfg = load_sweep(REPO / "examples" / "sweep-resnet20.toml")
    assert cfg.models == ("resnet20",) and cfg.prune.ratios == (0.3, 0.5)
    assert cfg.bench.threads == (1, 2) and "fp32" in cfg.quantize.precisions
    assert cfg.recommend.budgets == (0.3, 1.0)
    # the pruned variants are fine-tuned (with distillation), so they are real candidates of the recommendation
    assert cfg.prune.finetune_epochs > 0 and cfg.prune.distill


@pytest.mark.parametrize(("text", "err", "match"), [
    ('models = ["resnet20"]\nthreads = [1]', UserInputError, "unknown key 'threads' in the top level"),
    ('models = ["resnet20"]\n[bench]\nthread = [1]', UserInputError, "unknown key 'thread'.*Did you mean 'threads'"),
    ('models = ["resnet200"]', NotFoundError, "unknown model 'resnet200'.*Did you mean 'resnet20'"),
    ('models = ["resnet20"]\n[quantize]\nprecisions = ["int8:x86-vnn"]', NotFoundError,
     "unknown INT8 preset 'x86-vnn'.*Did you mean 'x86-vnni'"),
    ('models = ["resnet20"]\n[quantize]\nprecisions = ["int4"]', UserInputError, "precision 'int4' is not one of"),
    ('models = ["resnet20"]\n[bench]\nruntimes = ["ort-cpx"]', NotFoundError,
     "unknown runtime 'ort-cpx'.*Did you mean 'ort-cpu'"),
    ('models = ["resnet20"]\n[bench]\ndevices = ["pi 5"]', UserInputError, "devices holds 'pi 5'.*'local'"),
    ('models = ["resnet20"]\n[bench]\ndevices = ["pi5", "pi5"]', UserInputError, "lists a device twice"),
    ('models = ["resnet20"]\n[bench]\nruntimes = ["ncnn"]\n[quantize]\nprecisions = ["int8"]', UserInputError,
     "empty grid: no runtime of"),
    ('models = ["resnet20"]\n[convert]\nmin_agreement_int8 = 1.5', UserInputError, r"\[convert\].*\[0, 1\]"),
    ("models = []", UserInputError, "empty grid: 'models' is empty"),
    ('models = ["resnet20"]\n[bench]\nthreads = []', UserInputError, r"empty grid: \[bench\] threads is empty"),
    ('models = ["resnet20"]\n[quantize]\nprecisions = []', UserInputError, "empty grid"),
    ('models = ["resnet20"]\n[quantize]\nprecisions = ["int8"]\n[bench]\nruntimes = ["torch"]', UserInputError,
     "empty grid: no runtime of"),
    ('models = ["resnet20"]\n[bench]\nthreads = [0]', UserInputError, "integers >= 1"),
    ('models = ["resnet20"]\n[bench]\nthreads = "2"', UserInputError, "'threads' in \\[bench\\] is '2'; expected"),
    ('models = ["resnet20"]\n[prune]\nratios = [1.5]', UserInputError, r"in \(0, 1\)"),
    ('models = ["resnet20"]\n[prune]\nratios = [0.5]\ndistill = true', UserInputError,
     r"distill = true needs finetune_epochs > 0"),
    ('models = ["resnet20"]\n[prune]\nfinetune_epochs = 1\ndistill = true\ndistill_alpha = 1.5', UserInputError,
     r"distill_alpha 1.5 must be in \[0, 1\]"),
    ('models = ["resnet20"]\n[prune]\ndistill = "yes"', UserInputError,
     r"'distill' in \[prune\] is 'yes'; expected bool"),
    ('models = ["resnet20"]\n[recommend]\nmetric = "p50"', UserInputError, "Did you mean 'p50_ms'"),
    ("models = [", UserInputError, "not valid TOML"),
])
def test_bad_sweep_files(text: str, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        parse_sweep(text, "s.toml")


def test_precision_parse() -> None:
    assert Precision.parse("int8") == Precision("int8", "auto")
    assert str(Precision.parse("int8-dynamic:x86-avx2")) == "int8-dynamic:x86-avx2"
    with pytest.raises(UserInputError, match="fp32 takes no preset"):
        Precision.parse("fp32:x86-vnni")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        load_sweep(tmp_path / "nope.toml")


def test_unknown_device_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    """Names of [bench] devices are checked against the device registry (before any work)."""
    from edgebench.devices.registry import Device, DeviceRegistry
    from edgebench.sweep.run import resolve_devices

    reg = DeviceRegistry(tmp_path / "devices.toml")
    reg.add(Device("pi4", "ssh://pi@raspberrypi.local"))
    cfg = parse_sweep('models = ["resnet20"]\n[bench]\ndevices = ["local", "pi5"]')
    with pytest.raises(NotFoundError, match=r"unknown device 'pi5'.*Did you mean 'pi4'.*'local' is this machine"):
        resolve_devices(cfg, tmp_path / "devices.toml")
    ok = parse_sweep('models = ["resnet20"]\n[bench]\ndevices = ["local", "pi4"]')
    assert list(resolve_devices(ok, tmp_path / "devices.toml")) == ["pi4"]
    assert resolve_devices(parse_sweep('models = ["resnet20"]'), tmp_path / "nope.toml") == {}  # local only: no file
