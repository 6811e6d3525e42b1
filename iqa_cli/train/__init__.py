"""Training: everything that makes or changes weights, kept apart from inference code.

- ``recipe`` / ``masked_recipe`` / ``robust_recipe``: ``iqa train`` (the self-supervised encoder and heads, the masked
  Haar block of the shipped default, the robust variant); ``selfsup`` the self-supervised trainer with its
  ``decoder``, ``masked`` the masked Haar block's fitting protocol;
- ``adapt`` (``iqa adapt``, inputs in ``domain``) and ``fit`` (``iqa fit``, cross-validation in ``folds``),
  both starting from a ``base`` model;
- ``features`` (the one way features are collected), ``heads`` (head fitting), ``selection`` (head choice on
  re-created development pairs);
- ``schedule``, ``checkpoint``, ``publish`` (writing weights and the manifest), ``data`` (training images),
  ``denoiser`` (the KADID denoiser stand-in's trainer).
"""
