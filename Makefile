# The README's two commands:  `make course` (set up + open JupyterLab) and `make test` (every test).
#   make course LAB=no     the same set-up without starting JupyterLab (headless machines, CI)
#   make course TORCH=cpu  PyTorch's CPU-only wheels instead of the default (CUDA) build: a far
#                          smaller download; needs https://download.pytorch.org (see README)
#   make check             the fast tier: unit and property tests (under 2 minutes)
#   make lock              refresh requirements.lock after changing pyproject.toml (needs PyPI)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB ?= yes
TORCH ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# pip itself is pinned too, so that a fresh clone resolves the lock the same way every time.
PIP_VERSION := 26.3
# The test command's environment: CPU only, one thread per process (the 2-core CI machine runs
# notebooks and kernels side by side), and visible checks that raise instead of only printing ✗.
TEST_ENV := COURSE_DEVICE=cpu OMP_NUM_THREADS=1 COURSE_STRICT_CHECKS=1
# Test files run in parallel, TEST_WORKERS at a time (pytest-xdist; a file's tests stay together, so a
# notebook's cells share one kernel and a graded class is graded once). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

.PHONY: course test check lock release

course: $(VENV)/.installed
ifeq ($(LAB),yes)
	$(BIN)/jupyter lab course/
else
	@echo "Set up done. Open the course with: $(BIN)/jupyter lab course/"
endif

$(VENV)/.installed: requirements.lock requirements-ipywidgets7.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "pip==$(PIP_VERSION)"
ifeq ($(TORCH),cpu)
	$(BIN)/python -m pip install --index-url $(TORCH_CPU_INDEX) \
	    $$(grep -E '^(torch|torchvision)==' requirements.lock | cut -d' ' -f1)
	grep -vE '^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z-]+)==' requirements.lock > $(VENV)/requirements-cpu.lock
	$(BIN)/python -m pip install -r $(VENV)/requirements-cpu.lock
else
	$(BIN)/python -m pip install -r requirements.lock
endif
	$(BIN)/python -m pip install --no-deps -e .
	$(BIN)/python -m pip install -q --no-deps --target $(VENV)/ipywidgets7 -r requirements-ipywidgets7.lock
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ar-course)"
	touch $@

test: $(VENV)/.installed
	$(TEST_ENV) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

check: $(VENV)/.installed
	$(TEST_ENV) $(BIN)/python -m pytest tests -m "not browser and not grading and not notebook and not slow"

# Exact versions of every package for every platform, from pyproject.toml's ranges. torch and
# torchvision are held at the versions the course's figures were measured with (lock-constraints.txt).
lock:
	$(BIN)/uv pip compile pyproject.toml --extra instructor --extra dev --universal --python-version 3.10 \
	    --constraint lock-constraints.txt --output-file requirements.lock

release: $(VENV)/.installed
	$(BIN)/python -m utils.grading release
