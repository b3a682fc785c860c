"""Prior versions of the model: found in git, re-scored on today's test set, paired with the candidate.

git.py    which prior versions exist (commits that changed the model file, or tags) and their bytes (LFS too)
cache.py  scores per version as JSON, keyed by (model sha256, test-set fingerprint, plan's scoring hash)
stage.py  `run_history` (the history stage), Holm across vs_baseline and vs_best_prior, the best-prior gates
plot.py   the trend as a PNG for report.html (the comment uses a Mermaid chart: templates/_history.md.j2)
"""
