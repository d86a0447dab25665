# Juben worker / API / CLI image. Built by docker-compose.yml; also usable on its own.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md settings.toml alembic.ini worker.py enqueue.py api.py ./
COPY entrypoints ./entrypoints
COPY pipeline ./pipeline
COPY stages ./stages
COPY models ./models
COPY migrations ./migrations
# The lock's versions, as the README installs them.
RUN pip install --no-cache-dir -c constraints.txt . && useradd --create-home juben
USER juben
CMD ["python", "worker.py", "--processes", "2", "--threads", "8"]
