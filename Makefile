# Two entry points for a fresh machine (see README "Quick start"):
#   make run   - set up .venv and chat in the console over the bundled corpus, offline
#   make test  - set up .venv with the test extras and run the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: run test browser lint setup setup-test index demo clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# Old pip misses trafilatura's lxml[html_clean] extra.
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

# The CPU build of torch first: left to itself, pip takes the multi-GB CUDA wheel
# (plain `torch==2.13.0` from the public index is that CUDA wheel). TORCH_INDEX is
# PyTorch's CPU wheel index. This environment's shortcut: it cannot reach that index,
# and its pip (PIP_FIND_LINKS) serves torch-2.13.0+cpu under the plain name, so pip
# falls back to it after failed look-ups of torch and each dependency (about 90 s
# once), or at once with `make test TORCH_INDEX=`.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

index: setup
	$(PY) -m retrieval index --corpus corpus --index index

# A short scripted console chat; `$(PY) bot.py --console` is the interactive one.
run: setup
	printf '%s\n' \
	  "Thường trực Huyện ủy duyệt chương trình công tác của MTTQ năm 2024 thế nào?" \
	  "thanh uy hong ngu lam viec voi khoi van nam 2022" \
	  "Giá vàng hôm nay bao nhiêu?" \
	  | $(PY) bot.py --console

# The dashboard's test opens the page in Debian's Chromium: installed here when missing
# (as root, e.g. in CI), never skipped.
test: setup-test browser
	$(PY) -m pytest -q

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: run 'sudo apt-get install -y chromium'" >&2; exit 1; fi; }

# Rules are in pyproject.toml; kept out of `make test` so a new ruff release cannot fail CI.
lint: setup
	$(PIP) install -q ruff
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) index data .pytest_cache
