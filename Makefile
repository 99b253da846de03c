# Everything runs from a private virtual environment so a fresh clone needs only
# python3, make and gcc.  Installing builds the model's hot modules with mypyc
# (setup.py); an edit to them makes the next make rebuild, and until then the package
# runs its Python sources (src/vmsim/_native.py).
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# The modules setup.py compiles (its COMPILED list).
COMPILED_SOURCES := $(addprefix src/vmsim/,$(shell sed -n 's/^    "\(.*\.py\)",$$/\1/p' setup.py))

.PHONY: demo test fuzz bench lint readme clean

$(STAMP): pyproject.toml setup.py $(COMPILED_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vmsim demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src tests benchmarks
	$(BIN)/pytest
	# The few tests that patch model functions, on the Python sources.
	VMSIM_PURE=1 $(BIN)/pytest -q -m pure_python

# The hostile-input properties of tests/test_fuzz.py at length: FUZZ_CASES cases in all
# (make test runs 200 of them), in rounds spread over the cores; hypothesis's statistics
# say how many cases each round ran.
FUZZ_CASES ?= 1000000
fuzz: $(STAMP)
	VMSIM_FUZZ_CASES=$(FUZZ_CASES) $(BIN)/pytest -q -n auto -p no:cacheprovider \
		tests/test_fuzz.py --hypothesis-show-statistics

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The README's list of calls comes from the system-call table.
readme: $(STAMP)
	$(BIN)/python -m vmsim.views.syscall_table README.md

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info src/*.so .pytest_cache
	find src -name '*.so' -delete
