"""Stage 3, extract: one message per chunk, by the rules extractor or an LLM.

``stage`` is the actor's shell and fan-in (import it only after
``pipeline.broker.setup_broker()``); ``rules``, ``llm`` and ``schema`` are the cores.
"""
