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


@pytest.mark.parametrize(("text", "err", "match"), [
    ('models = ["resnet20"]\nthreads = [1]', UserInputError, "unknown key 'threads' in the top level"),
    ('models = ["resnet20"]\n[bench]\nthread = [1]', UserInputError, "unknown key 'thread'.*Did you mean 'threads'"),
    ('models = ["resnet200"]', NotFoundError, "unknown model 'resnet200'.*Did you mean 'resnet20'"),
    ('models = ["resnet20"]\n[quantize]\nprecisions = ["int8:x86-vnn"]', NotFoundError,
     "unknown INT8 preset 'x86-vnn'.*Did you mean 'x86-vnni'"),
    ('models = ["resnet20"]\n[quantize]\nprecisions = ["int4"]', UserInputError, "precision 'int4' is not one of"),
    ('models = ["resnet20"]\n[bench]\nruntimes = ["ort-cpx"]', NotFoundError,
     "unknown runtime 'ort-cpx'.*Did you mean 'ort-cpu'"),
    ('models = ["resnet20"]\n[bench]\ndevices = ["pi5"]', NotFoundError, "unknown device 'pi5'.*'local'"),
    ("models = []", UserInputError, "empty grid: 'models' is empty"),
    ('models = ["resnet20"]\n[bench]\nthreads = []', UserInputError, r"empty grid: \[bench\] threads is empty"),
    ('models = ["resnet20"]\n[quantize]\nprecisions = []', UserInputError, "empty grid"),
    ('models = ["resnet20"]\n[quantize]\nprecisions = ["int8"]\n[bench]\nruntimes = ["torch"]', UserInputError,
     "empty grid: no runtime of"),
    ('models = ["resnet20"]\n[bench]\nthreads = [0]', UserInputError, "integers >= 1"),
    ('models = ["resnet20"]\n[bench]\nthreads = "2"', UserInputError, "'threads' in \\[bench\\] is '2'; expected"),
    ('models = ["resnet20"]\n[prune]\nratios = [1.5]', UserInputError, r"in \(0, 1\)"),
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
