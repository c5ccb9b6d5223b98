# The README's two commands: `make reproduce` and `make test`.
# Both create .venv on first use and skip the install while it is current
# (the stamp is keyed on the hash of requirements.txt and pyproject.toml).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
PROFILE ?= default
PYTEST_ARGS ?=
# free disk (KB) below which the install stops with a clear message: .venv measured 6,908,376 KB on Linux x86-64
VENV_NEEDS_KB ?= 7000000

.PHONY: reproduce test lab clean venv figures student

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@echo ">> creating/updating $(VENV) (requirements changed or venv missing)"
	@# torch 2.14.1 from PyPI is a CUDA build, so the install is large: say so before pip fails with "No space left".
	@free_kb=$$(df -Pk . | awk 'NR == 2 {print $$4}'); \
	if [ "$$free_kb" -lt $(VENV_NEEDS_KB) ]; then \
	    echo "!! only $$((free_kb / 1000000)) GB free on this disk (df -h .); the install into $(VENV) needs about $$(($(VENV_NEEDS_KB) / 1000000)) GB." >&2; \
	    echo "!! Free some space (old clones, /tmp), or set VENV_NEEDS_KB=0 to try anyway." >&2; exit 1; \
	fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@# quantus pulls opencv-python, grad-cam opencv-python-headless; both write cv2/.
	@# Re-lay one of them over the other so cv2/ is consistent (never uninstall either).
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps \
	    "$$(grep -i '^opencv-python-headless==' requirements.txt)"
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name hidden-monotonicity \
	    --display-name "hidden-monotonicity (.venv)" > /dev/null
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)
	@echo ">> $(VENV) is ready"

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(BIN)/python -m hidden_monotonicity reproduce --profile $(PROFILE)

# the students' copy of the course: notebooks without outputs, solutions or answer key (COURSE.md)
student: $(STAMP)
	$(BIN)/python -m hidden_monotonicity.teaching.student student

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build lib/*.egg-info results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
