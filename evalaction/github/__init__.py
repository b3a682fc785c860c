"""The GitHub edge: action inputs, the triggering event, changed models, and publishing results.

PyGithub is imported only by `publish` and `action`, so the CLI never pays for it at start-up.
"""
