"""Object detection: COCO ground truth and results, mAP through pycocotools, TIDE error analysis, and the
paired image-level bootstrap of the mAP delta.

`spec` (the plan's detection fields) and `artifacts` import only pydantic; every other module imports numpy or
pycocotools inside its functions' callers, so `evalaction --help` stays fast.
"""
