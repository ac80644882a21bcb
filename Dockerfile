# LabelFunction's container image (template.yaml): `sam build` builds it with Docker for arm64 (the template's
# Architectures), `sam deploy` pushes it to ECR. An image, not a zip like EventsFunction, because the local OCR engine
# for Japanese screenshots (pyproject.toml's "ocr" extra: RapidOCR on ONNX Runtime, with OpenCV and numpy) brings the
# packages to about 390 MB on arm64 (280 MB of it the engine's), over the 250 MB a zip package may unzip to. Checked
# offline by tests/test_template.py.
FROM --platform=linux/arm64 public.ecr.aws/lambda/python:3.13

# The dependencies first, so that a change to bot/ rebuilds and pushes only the small layers below. Two plain lists:
# requirements.txt (pyproject.toml's dependencies, what EventsFunction's zip gets) and requirements-ocr.txt
# (pyproject.toml's "ocr" extra); tests/test_template.py keeps each equal to pyproject.toml, where the ranges are
# decided. Not `pip install ".[ocr]"`: that needs pyproject.toml, README.md and bot/ in this layer, so any edit to
# them would reinstall all 390 MB, and it would need a build backend fetched at build time. Installed beside
# the code in LAMBDA_TASK_ROOT (/var/task), first on sys.path, as in the zip; wheels only (every package has an arm64
# wheel for CPython 3.13, and the base image has no compiler).
COPY requirements.txt requirements-ocr.txt /tmp/
RUN python3 -m pip install --no-cache-dir --only-binary=:all: --target "${LAMBDA_TASK_ROOT}" \
        -r /tmp/requirements.txt -r /tmp/requirements-ocr.txt

# ONNX Runtime's Linux wheels carry Microsoft's telemetry: off only if this is set before it loads (bench/README.md;
# template.yaml sets it too).
ENV ORT_DISABLE_TELEMETRY=1

# The bot: its modules and the data files it reads (emoji_map.txt, text_labels.txt, locales/); .dockerignore sends
# nothing else. Compiled here: /var/task is read-only on Lambda, so otherwise every cold start compiles each module.
COPY bot/ ${LAMBDA_TASK_ROOT}/bot/
RUN python3 -m compileall -q "${LAMBDA_TASK_ROOT}/bot"

CMD ["bot.aws_lambda.handler"]
