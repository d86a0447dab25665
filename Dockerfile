# Juben worker / CLI image. Built by docker-compose.yml; also usable on its own.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md settings.toml alembic.ini worker.py enqueue.py ./
COPY pipeline ./pipeline
COPY stages ./stages
COPY models ./models
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home juben
USER juben
CMD ["python", "worker.py", "--processes", "2", "--threads", "8"]
