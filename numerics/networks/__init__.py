"""Torch networks beyond the committee machine, one training loop for all of them.

- :mod:`numerics.networks.data`: offline datasets (modular addition, the permutation group S_3,
  teacher-student regression, 8 x 8 digits from scikit-learn, MNIST IDX files);
- :mod:`numerics.networks.models`: MLPs and small transformers as ``torch.nn`` modules;
- :mod:`numerics.networks.train`: batched training of seeds x hyperparameter points with
  ``torch.func`` (stacked parameters, ``vmap`` over ``functional_call``), the centred predictor
  of Kumar et al. 2024 App. 8.1 and log-spaced records.
"""
