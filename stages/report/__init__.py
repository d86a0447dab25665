"""Stage 6, report: the breakdown as HTML, JSON and CSV.

``stage`` is the actor's shell (import it only after ``pipeline.broker.setup_broker()``);
``render`` turns a report dict into text, with ``html``, ``sheets``, ``labels`` and ``markup``.
"""
