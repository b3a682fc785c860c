"""Attributions for the critical failures, with Captum (imported only inside the functions that need it).

    forward.py   a model as a Captum forward function: raw features in, class probabilities out
                 (ONNX Runtime session behind numpy <-> torch, batched; or a torch module, differentiable)
    methods.py   Integrated Gradients (with its convergence delta) and Saliency for torch models;
                 Occlusion, Feature Ablation and Shapley Value Sampling for any model
    visuals.py   heatmap overlays, feature-contribution bars, thumbnail galleries (matplotlib, Agg)

Attributions live in the raw feature space the user sees (pixels, table columns): each forward function
applies the plan's preprocessing itself, exactly as the inference stage does, so an explanation is about the
same prediction the report lists.
"""
