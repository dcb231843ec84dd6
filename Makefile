# The two commands of the README: `make report` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# TensorFlow wheel: the CUDA build when an NVIDIA driver is present, else the CPU-only build.
TF_EXTRA ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.installed-$(TF_EXTRA)
SYNTHETIC := data/synthetic/fer2013.csv.gz
PROFILE ?= quick

.PHONY: setup data report pdf-tools notebooks test bench lock clean

## setup: create .venv, install the pinned dependencies and the project, register the Jupyter kernel
setup: $(STAMP)
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[$(TF_EXTRA),test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name fer-workbook --display-name "Python (fer-workbook)"
	touch $@

## data: write the embedded synthetic face set (seeded, FER2013-sized)
data: $(SYNTHETIC)
$(SYNTHETIC): fer_utils/synth.py | $(STAMP)
	$(BIN)/fer-workbook synth --out $(SYNTHETIC)

## report: set-up, embedded data, the five notebooks (papermill), then report/report.html and report/report.pdf
report: $(STAMP) $(SYNTHETIC) pdf-tools
	$(BIN)/fer-workbook run --profile $(PROFILE)
	$(BIN)/fer-workbook render

## pdf-tools: headless Chromium and CJK fonts for the PDF, poppler to check its text (Debian/Ubuntu; elsewhere see the README)
pdf-tools:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "CJK" || ! command -v pdftotext >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk poppler-utils >/dev/null; \
	  else echo "Install Google Chrome (or Chromium) and a CJK font for the PDF; see the README." >&2; fi; \
	fi

## notebooks: re-record the committed notebooks' outputs from a quick-profile run (maintainers)
notebooks: $(STAMP) $(SYNTHETIC)
	$(BIN)/python -c "from fer_utils import report; report.record()"

## test: every test (set-up first if needed): unit tests, the run + render pipeline, nbval on the notebooks.
## TEST_WORKERS parallel pytest-xdist workers (0: one process); each notebook's cells stay on one worker.
TEST_WORKERS ?= 2
test: $(STAMP) pdf-tools
	$(BIN)/python -m pytest tests notebooks -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder \
	  --durations=15 --nbval-lax --nbval-current-env \
	  --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout 900

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
