"""What each task supplies to the one sequencer (`evalaction.pipeline`): `base.TaskStages`, implemented by
`classification.TabularTask` (binary, multiclass, regression) and `detection.DetectionTask`."""
