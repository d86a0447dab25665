"""Stage 5, storyboard: a shot list per scene, each shot naming the assets it shows.

``stage`` is the actor's shell (import it only after ``pipeline.broker.setup_broker()``); the
core is ``beats`` (a scene's text into beats), ``mentions`` (assets named in a text),
``shot_fit`` (a beat into a shot), ``scene_kinds`` and ``llm`` (the LLM planner).
"""
