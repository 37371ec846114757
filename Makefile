# kabucast: `make demo` runs the main job offline on the embedded default; `make test` runs every check.
# Both create the virtualenv and install everything on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
LOCK   := requirements/lock.txt
# torch==2.13.0+cpu is not on PyPI: it comes from a local wheel folder (this project's machines carry
# one in /opt/wheels) or from PyTorch's CPU index: make install PIP_EXTRA=--extra-index-url=https://download.pytorch.org/whl/cpu
TORCH_WHEELS ?= $(wildcard /opt/wheels)
PIP_EXTRA    ?=
PIP_LOCKED   := --disable-pip-version-check --require-hashes --no-deps $(if $(TORCH_WHEELS),--find-links $(TORCH_WHEELS)) $(PIP_EXTRA)
export AWS_DEFAULT_REGION ?= ap-northeast-1
export PYTHONDONTWRITEBYTECODE := 1
export SAM_CLI_TELEMETRY := 0

.PHONY: install lock demo test lint package unit functional bench clean job-image monthly-image

install: $(STAMP)

# Everything from the lock, hash-checked, nothing resolved; then the package itself (editable, no deps).
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else \
		f"the lock ($(LOCK)) is for CPython 3.11, {sys.executable} is {v[0]}.{v[1]}: make clean && make install PYTHON=python3.11")'
	$(BIN)/pip install --quiet $(PIP_LOCKED) -r $(LOCK)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python requirements/check_env.py $(LOCK)
	touch $@

# Re-resolve on purpose (needs PyPI): keeps every pin it can; `make lock UPGRADE=1` moves to the newest.
# lock.txt is the one resolution (CPython 3.11, manylinux x86_64, every extra). The other files are
# derived from it (-c lock.txt: the same versions, their own hashes): layer.txt for the python3.12
# Lambda layer (the runtime set less what the Lambda runtime provides), monthly.txt for the monthly
# image, jobs.txt for ml/Dockerfile. tests/unit/test_lock.py checks that they all agree.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --no-emit-find-links --custom-compile-command "make lock" \
             --python-platform x86_64-manylinux_2_28 $(if $(TORCH_WHEELS),--find-links $(TORCH_WHEELS)) $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	$(UV_COMPILE) pyproject.toml --all-extras --python-version 3.11 --override requirements/overrides.txt -o $(LOCK)
	$(UV_COMPILE) pyproject.toml --python-version 3.12 -c $(LOCK) -o requirements/layer.txt \
		--no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer
	$(UV_COMPILE) pyproject.toml --python-version 3.11 -c $(LOCK) -o requirements/monthly.txt --extra train
	$(UV_COMPILE) pyproject.toml --python-version 3.11 -c $(LOCK) -o requirements/jobs.txt \
		--extra train --extra report --extra ranker --extra sweep

demo: $(STAMP)
	$(BIN)/kabucast demo

# One pytest worker per core (pytest-xdist), each test file on one worker so its module fixtures are built once.
PYTEST_PARALLEL ?= -n auto --dist loadfile
test: lint package
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider $(PYTEST_PARALLEL) --durations=10

lint: $(STAMP)
	$(BIN)/ruff check ml tests bench functions layers
	$(BIN)/ruff format --check ml tests bench functions layers
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml

# `sam build` of the whole template, as a user runs it (no Docker: the monthly image is pushed by
# `make monthly-image`, not built by SAM): the daily function + runtime layer for python3.12 (pyenv's
# 3.12 here), measured against the 250 MB unzipped limit, then imported and run from the build output
# alone, on a file system like Lambda's: read-only but for the temp dir, any write elsewhere a failure
# (kabucast.serverless.readonly; -B: no byte-code caches, Lambda's code folders are read-only). The smoke run
# serves a cross-sectional champion trained here on the sample market (layers/runtime/smoke_store.py).
PY312 ?= $(shell PYENV_VERSION=3.12.1 pyenv which python3 2>/dev/null || command -v python3.12)
package: $(STAMP)
	@test -n "$(PY312)" || { echo "package: needs a python3.12 (pyenv install 3.12.1, or set PY312=...)"; exit 1; }
	PATH="$(dir $(PY312)):$$PATH" $(BIN)/sam build --template template.yaml --build-dir .aws-sam/build
	$(PY312) layers/runtime/package_size.py check .aws-sam/build/RuntimeLayer .aws-sam/build/DailyPipelineFunction
	$(BIN)/python layers/runtime/smoke_store.py .aws-sam/smoke-store
	$(BIN)/python -m kabucast.serverless.readonly -- $(PY312) -I -B layers/runtime/smoke.py .aws-sam/build .aws-sam/smoke-store

# Images for the stack (need Docker and AWS credentials; AWS and Docker are stubbed in
# tests/unit/test_make_images.py, which checks these recipes). STACK: the deployed stack; TAG: the tag
# pushed. The repositories are IMMUTABLE (a tag is never re-pointed, so `latest` cannot be pushed twice):
# each push gets a new tag, the commit and the time, and the stack names the image by its digest.
STACK ?= kabucast
IMAGE_TAG := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo build)-$(shell date -u +%Y%m%dT%H%M%SZ)
TAG   ?= $(IMAGE_TAG)
# $(call push_image,OUTPUT,DOCKERFILE,BUILD ARGS,HINT): build DOCKERFILE with the repository root as
# context, push it as $(TAG) to the ECR repository named by the stack's OUTPUT, and leave its
# repository digest (uri@sha256:...) in the shell variable `digest`.
define push_image
uri=$$(aws cloudformation describe-stacks --stack-name $(STACK) --output text \
	--query "Stacks[0].Outputs[?OutputKey=='$(1)'].OutputValue") || exit 2; \
case "$$uri" in ""|None) echo "$@: stack $(STACK) has no output $(1) ($(4))" >&2; exit 2;; esac; \
aws ecr get-login-password | docker login --username AWS --password-stdin "$${uri%%/*}" && \
docker build -f $(2) $(3) -t "$$uri:$(TAG)" . && \
docker push "$$uri:$(TAG)" && \
digest=$$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$$uri:$(TAG)" | grep -m1 "^$$uri@") && \
echo "pushed $$digest" || exit 1
endef
# $(call deploy_by_digest,ENABLE,IMAGE): print the `sam deploy` that sets ENABLE=true and IMAGE to the
# pushed `digest`, with every other parameter the stack has now (--parameter-overrides replaces
# samconfig.toml's whole list, so the command repeats them).
define deploy_by_digest
keep=$$(aws cloudformation describe-stacks --stack-name $(STACK) --output text \
	--query "Stacks[0].Parameters[].[ParameterKey,ParameterValue]" | \
	awk -F '\t' '$$1 != "$(1)" && $$1 != "$(2)" && $$2 != "" {printf "%s=\"%s\" ", $$1, $$2}'); \
echo "now deploy it by digest (the stack's current parameters kept):"; \
echo "  sam build && sam deploy --parameter-overrides $$keep""$(1)=true $(2)=$$digest"
endef

# The container-job image (ml/Dockerfile; TORCH_CUDA=cu128 for the GPU variant) for a stack deployed
# with EnableBatch=true; the job definition is then deployed by its digest (BatchImageUri). Then:
# .venv/bin/kabucast submit --stack $(STACK) -- train --config train.yaml
job-image:
	@$(call push_image,JobImageRepositoryUri,ml/Dockerfile,--build-arg TORCH_CUDA=$(TORCH_CUDA),deploy with EnableBatch=true); \
	$(call deploy_by_digest,EnableBatch,BatchImageUri)

# The monthly function's image (functions/monthly_pipeline/Dockerfile), pushed to the stack's
# MonthlyImageRepositoryUri; the function is then deployed by its digest (so a new push is a change).
monthly-image:
	@$(call push_image,MonthlyImageRepositoryUri,functions/monthly_pipeline/Dockerfile,,deploy the stack once first: sam build && sam deploy); \
	$(call deploy_by_digest,EnableMonthly,MonthlyImageUri)

unit: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) tests/unit

functional: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) tests/functional

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .kabucast .pytest_cache .ruff_cache .aws-sam
