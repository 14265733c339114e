"""What a run is asked for: ``stack.toml`` read, interpolated and validated, and the settings.

The bottom of the flow: it imports nothing else of the harness (but the plugin's pure helpers),
so every package above can use its models. Kinds build their models on :mod:`.models`.
"""
