# The two commands of the README: `make run` opens the studio, `make test` runs the tests.
# Each creates the virtual environment when it is missing. torch comes first, pinned, so that
# pip takes the local CPU wheel where there is one and never resolves a newer (CUDA) build.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.studio-installed

.PHONY: run test lint bench screenshot clean check-python

# `make screenshot PHOTO=picture.jpg`: the README's pictures from the real window (under Xvfb);
# paint translates PHOTO (the committed ones used scikit-image's public-domain rocket.jpg)
PHOTO ?=
SHOT = xvfb-run -a -s "-screen 0 1400x900x24" $(BIN)/python scripts/screenshot.py

# Before anything is installed: a Python new enough, with its venv module (Debian packages it
# apart). The window's own needs (Qt's X11 libraries, a display) are checked by `studio` itself,
# which names the missing packages instead of letting Qt abort.
check-python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "make: Studio needs Python 3.11 or newer; $(PYTHON) is older or missing" \
			"(name another: make run PYTHON=python3.12)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
		echo "make: Python's venv module is missing: sudo apt install python3-venv"; exit 1; }

$(STAMP): pyproject.toml | check-python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/studio

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest
	$(BIN)/ruff check .

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/startup.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/ui_latency.py

screenshot: $(STAMP)
	$(SHOT) --montage docs/screenshot.png $(if $(PHOTO),--photo $(PHOTO))
	printf 'JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\nROMEO:\n' > /tmp/studio-prompt.txt
	$(SHOT) docs/write.png --capability write --drop /tmp/studio-prompt.txt --run --size 1024x700
	$(SHOT) docs/compose.png --capability compose --run --size 1024x700
	$(SHOT) docs/paint.png --capability paint $(if $(PHOTO),--drop $(PHOTO) --run) --size 1024x700
	$(SHOT) docs/drive-watch.png --capability drive --run --seconds 12 --size 1024x700
	$(SHOT) docs/drive-dream.png --capability drive --run --action dream --seconds 12 --size 1024x700

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
