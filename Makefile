# kabucast: `make demo` runs the main job offline on the embedded default; `make test` runs every check.
# Both create the virtualenv and install everything on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
export AWS_DEFAULT_REGION ?= ap-northeast-1
export PYTHONDONTWRITEBYTECODE := 1
export SAM_CLI_TELEMETRY := 0

.PHONY: install demo test lint package unit functional bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[train,dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/kabucast demo

test: lint package
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check ml tests bench functions layers
	$(BIN)/ruff format --check ml tests bench functions layers
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml

# The daily function + runtime layer as Lambda gets them: built for python3.12 (pyenv's 3.12 here),
# measured against the 250 MB unzipped limit, then imported and run from the build output alone.
PY312 ?= $(shell PYENV_VERSION=3.12.1 pyenv which python3 2>/dev/null || command -v python3.12)
package: $(STAMP)
	@test -n "$(PY312)" || { echo "package: needs a python3.12 (pyenv install 3.12.1, or set PY312=...)"; exit 1; }
	PATH="$(dir $(PY312)):$$PATH" $(BIN)/sam build DailyPipelineFunction --template template.yaml --build-dir .aws-sam/build
	$(PY312) layers/runtime/package_size.py check .aws-sam/build/RuntimeLayer .aws-sam/build/DailyPipelineFunction
	$(PY312) -I layers/runtime/smoke.py .aws-sam/build

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

functional: $(STAMP)
	$(BIN)/python -m pytest -q tests/functional

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .kabucast .pytest_cache .ruff_cache .aws-sam
