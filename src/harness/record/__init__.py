"""A run's record on disk and beyond: results.json, junit.xml, the HTML report, the Markdown
summary, merged shards, history, durations, and the optional sinks.
"""
