"""Stage 4, dedup: merge a job's extraction records into the project's assets.

``stage`` is the actor's shell (import it only after ``pipeline.broker.setup_broker()``);
``merge`` is the name matching.
"""
