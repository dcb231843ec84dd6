# The two commands of the README: `make report` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# TensorFlow wheel: the CUDA build when an NVIDIA driver is present, else the CPU-only build.
TF_EXTRA ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.installed-$(TF_EXTRA)
SYNTHETIC := data/synthetic/fer2013.csv.gz
PROFILE ?= quick

.PHONY: setup data report test bench lock clean

## setup: create .venv, install the pinned dependencies and the project, register the Jupyter kernel
setup: $(STAMP)
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[$(TF_EXTRA)]"
	$(BIN)/python -m ipykernel install --sys-prefix --name fer-workbook --display-name "Python (fer-workbook)"
	touch $@

## data: write the embedded synthetic face set (seeded, FER2013-sized)
data: $(SYNTHETIC)
$(SYNTHETIC): | $(STAMP)
	$(BIN)/fer-workbook synth --out $(SYNTHETIC)

## report: set-up, embedded data, then the workbook's training runs on the quick profile
report: $(STAMP) $(SYNTHETIC)
	$(BIN)/fer-workbook data $(SYNTHETIC)
	$(BIN)/fer-workbook train --profile $(PROFILE)
	$(BIN)/fer-workbook train --profile $(PROFILE) --model dnn --match $$($(BIN)/python -c "from fer_utils import config; print(config.resolve('$(PROFILE)').model)")

## test: every test (set-up first if needed)
test: $(STAMP)
	$(BIN)/python -m pytest

## bench: parse/cache/synthesis/training-throughput ratios measured in one run
bench: $(STAMP)
	$(BIN)/python bench/bench.py

## lock: re-pin requirements.lock from the current environment
lock: $(STAMP)
	{ echo "# Exact versions tested on Python 3.11 / x86_64 Debian (2 CPU cores); used as pip constraints by the Makefile."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -vi '^fer-workbook'; } > requirements.lock

clean:
	rm -rf $(VENV) data/cache runs report/*.html report/*.pdf
