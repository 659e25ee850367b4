# edgebench: `make test` or `make export` on a fresh clone sets everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-setup
ART    := artifacts

.PHONY: help setup test test-fast docs lint export bench-harness arm-check clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'setuptools>=77'  # the wheel test builds without isolation (pyproject's license needs >= 77)
	$(PY) -m pip install --quiet -e '.[export,report,dev,ray,runtimes,convert,detection]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install edgebench with all extras

test: $(STAMP)  ## run the test suite
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## tests without the slow ones
	$(PY) -m pytest -q -m "not slow"

docs: $(STAMP)  ## regenerate the generated tables and drawings of docs/architecture.md from the code
	$(PY) -m edgebench.tools.architecture --write

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check .

export: $(STAMP)  ## the main job on the built-in default (ResNet-20, published weights) + its INT8 (preset auto)
	$(VENV)/bin/edgebench export resnet20 -o $(ART)/resnet20 --force
	$(VENV)/bin/edgebench quantize $(ART)/resnet20/model.fp32.onnx --data cifar10:train --force
	$(PY) scripts/int8_summary.py $(ART)/resnet20

bench-harness: $(STAMP)  ## harness overhead vs bare loops and benchmark_app, cold start, --help start time
	$(PY) scripts/bench_harness.py

.PHONY: bench-int8
bench-int8: $(STAMP)  ## INT8 presets vs FP32: speed on ResNet18-CIFAR, accuracy on ResNet-56, one interleaved run
	$(PY) scripts/bench_int8.py

.PHONY: bench-doctor
bench-doctor: $(STAMP)  ## the doctor's 10 known-bad cases: cause named, speed/drop before and after the measured fix (~1 min)
	$(PY) scripts/bench_doctor.py

.PHONY: bench-prune
bench-prune: $(STAMP)  ## ResNet-56: L1/random/latency-aware pruning +- distillation, INT8, top-1, latency (~25 min idle)
	$(PY) scripts/bench_prune.py

.PHONY: resnet18-224
resnet18-224: $(STAMP)  # tv:resnet18 at 224 with seeded random weights (bench-runtimes, bench-scenarios)
	# random weights saved as a checkpoint: litert-torch and -r torch rebuild the module from a weights file
	test -f $(ART)/resnet18-224/model.fp32.onnx || { mkdir -p $(ART)/resnet18-224-weights && \
	  $(PY) -c "import torch, torchvision; torch.manual_seed(0); \
	    torch.save(torchvision.models.resnet18().state_dict(), '$(ART)/resnet18-224-weights/random.pth')" && \
	  $(VENV)/bin/edgebench export tv:resnet18 --weights $(ART)/resnet18-224-weights/random.pth \
	  -o $(ART)/resnet18-224 --force && cp $(ART)/resnet18-224-weights/random.pth $(ART)/resnet18-224/; }

.PHONY: bench-runtimes
bench-runtimes: export resnet18-224  ## every runtime x precision vs ORT FP32 (ResNet-20 + top-1, tv ResNet-18 @224), interleaved
	$(PY) scripts/bench_runtimes.py $(ART)/resnet20 --prepare --eval 1000 --threads 1 \
	  -o $(ART)/bench-runtimes/resnet20.json
	$(PY) scripts/bench_runtimes.py $(ART)/resnet18-224 --prepare --calib-size 64 --threads 1 --rounds 5 --iters 10 \
	  -o $(ART)/bench-runtimes/resnet18-224.json

.PHONY: bench-scenarios
bench-scenarios: export resnet18-224  ## single/multi/offline vs ORT's Python API and benchmark_app, early-stopping p90, A/A (~7 min)
	$(PY) scripts/bench_scenarios.py $(ART)/resnet20 $(ART)/resnet18-224 $(SCENARIOS_ARGS) \
	  -o $(ART)/bench-scenarios/scenarios.json

arm-check: $(STAMP)  ## the device CLI on emulated aarch64 (Pi 4 / Pi 5) vs the host; run after `make export`; root
	bash scripts/arm_check.sh

# `make report`: every installed runtime, FP32 vs INT8, on this machine (one result per runtime x precision x threads).
REPORT        := $(ART)/report
REPORT_MODEL  := $(ART)/resnet20
REPORT_THREADS ?= 1
REPORT_BENCH  ?= --batch 1 --min-seconds 3 --eval cifar10
EB            := $(VENV)/bin/edgebench

.PHONY: report
report: export  ## export + INT8 + bench (ort-cpu, torch, torch-int8, openvino, litert, ncnn; FP32/INT8) + compare
	test $(REPORT_MODEL)/model.int8.onnx -nt $(REPORT_MODEL)/model.fp32.onnx \
	  || $(EB) quantize $(REPORT_MODEL) --data cifar10:train --force
	rm -rf $(REPORT)
	$(EB) bench $(REPORT_MODEL)/model.fp32.onnx -r ort-cpu -t $(REPORT_THREADS) $(REPORT_BENCH) -o $(REPORT)/results
	$(EB) bench $(REPORT_MODEL)/model.int8.onnx -r ort-cpu -t $(REPORT_THREADS) $(REPORT_BENCH) -o $(REPORT)/results
	$(EB) bench $(REPORT_MODEL) -r torch -t $(REPORT_THREADS) $(REPORT_BENCH) -o $(REPORT)/results
	$(EB) bench $(REPORT_MODEL) -r torch-int8 -t $(REPORT_THREADS) $(REPORT_BENCH) -o $(REPORT)/results
	# every installed runtime of docs/runtimes.md, FP32 and INT8 where it has one (converted here; refused = skipped)
	for rp in openvino:fp32 openvino:int8 litert:fp32 litert:int8 ncnn:fp32; do rt=$${rp%:*}; p=$${rp#*:}; \
	  $(EB) runtimes | grep -q "^$$rt .*available" || { echo "report: $$rt not installed, skipped"; continue; }; \
	  if [ "$$rt:$$p" != openvino:fp32 ]; then $(EB) convert $(REPORT_MODEL) -r $$rt --precision $$p --force \
	    $$( [ $$p = int8 ] && echo --data cifar10:train ) || { echo "report: $$rt $$p refused, skipped"; continue; }; fi; \
	  $(EB) bench $(REPORT_MODEL) -r $$rt --precision $$p -t $(REPORT_THREADS) $(REPORT_BENCH) -o $(REPORT)/results; \
	done
	! $(EB) runtimes | grep -q "^openvino .*available" || $(EB) bench $(REPORT_MODEL)/model.int8.onnx -r openvino \
	  -t $(REPORT_THREADS) $(REPORT_BENCH) -o $(REPORT)/results
	$(EB) profile $(REPORT_MODEL)/model.fp32.onnx -t 1 -o $(REPORT)/results
	$(EB) profile $(REPORT_MODEL)/model.int8.onnx -t 1 -o $(REPORT)/results
	$(EB) bench $(REPORT_MODEL)/model.fp32.onnx $(REPORT_MODEL)/model.int8.onnx --interleave \
	  -t $(REPORT_THREADS) -o $(REPORT)/interleaved
	$(EB) compare $(REPORT)/results $(REPORT)/interleaved -o $(REPORT) --baseline resnet20-fp32/ort-cpu --force \
	  --title "ResNet-20 on $$(hostname): ONNX Runtime, PyTorch, OpenVINO, LiteRT, ncnn; FP32 vs INT8"
	$(PY) scripts/bench_runtimes.py $(REPORT_MODEL) --threads 1 -o $(REPORT)/interleaved/runtimes.json

clean:  ## remove build outputs and results (keeps .venv)
	rm -rf $(ART) results report .pytest_cache .ruff_cache build *.egg-info

.PHONY: bench-byo
bench-byo: $(STAMP)  ## three third-party ONNX files (opset 9/11/17, NCHW/NHWC): describe, INT8 auto, interleaved speed-up, graph vs torch MACs
	$(PY) scripts/bench_byo.py
.PHONY: bench-soak
bench-soak: $(STAMP)  ## 100,000 timed runs in one process: RSS growth over the loop (<1 %), peak incl. statistics (<1.2x)
	$(PY) scripts/soak.py

.PHONY: bench-devices
bench-devices: $(STAMP)  ## bench --on over loopback SSH vs local: p50 agreement, push/connect/pull cost cold and warm
	$(PY) scripts/bench_devices.py

.PHONY: bench-sweep
bench-sweep: $(STAMP)  ## examples/sweep-resnet20.toml: embedded vs --ray local, second run (cache), recommendation
	$(PY) scripts/bench_sweep.py
.PHONY: mutation
mutation: $(STAMP)  ## mutation testing (cosmic-ray) of the figure modules -> artifacts/mutation/score.json; MUTATE="stats evaluate" for some
	$(PY) scripts/mutation.py $(MUTATE)

.PHONY: bench-quant
bench-quant: $(STAMP)  ## ResNet-56: FP32, FP16, dynamic/static/accuracy-aware/QAT INT8, 4-bit weights, sparse+INT8 (~13 min)
	$(PY) scripts/bench_quant.py

.PHONY: bench-bits
bench-bits: $(STAMP)  ## ResNet-56 weights 8/6/4 x activations 8/16 bits (ORT QDQ types): size, paired top-1, latency
	$(PY) scripts/bench_bits.py  # the code of `edgebench sweep-bits` (bench/bits_sweep.py) on ResNet-56

.PHONY: bench-budget
bench-budget: $(STAMP)  ## accuracy-aware PTQ (budget 0.3 points) on ResNet-20, ResNet-56 and a trained user model
	$(PY) scripts/bench_budget.py

.PHONY: bench-detection
bench-detection: $(STAMP)  ## FastestDet FP32 vs INT8 (plain, mAP budgets 1.0/0.5), and through OpenVINO/LiteRT/ncnn: mAP, box agreement, p50 interleaved
	$(PY) scripts/bench_detection.py

.PHONY: bench-imagenet
bench-imagenet: $(STAMP)  ## EfficientNet-Lite0 (real weights) + tv MobileNetV2/ResNet-18 @224: FP32 vs INT8 on ORT/OpenVINO/LiteRT/ncnn, paired top-1, 1-thread speed-up, MB (IMAGES=300 for fewer)
	$(PY) scripts/bench_imagenet.py $(if $(IMAGES),--images $(IMAGES) --calib $(IMAGES))
