# The README's two commands:  `make course` (set up + open JupyterLab) and `make test`.
# `make course LAB=no` sets everything up without starting JupyterLab (headless machines, CI).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB ?= yes

.PHONY: course test release

course: $(VENV)/.installed
ifeq ($(LAB),yes)
	$(BIN)/jupyter lab course/
else
	@echo "Set up done. Open the course with: $(BIN)/jupyter lab course/"
endif

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ar-course)"
	$(BIN)/python -m ipykernel install --user --name ar-course --display-name "Python (ar-course)"
	touch $@

test: $(VENV)/.installed
	COURSE_DEVICE=cpu OMP_NUM_THREADS=1 $(BIN)/python -m pytest

release: $(VENV)/.installed
	$(BIN)/python -m utils.grading release
