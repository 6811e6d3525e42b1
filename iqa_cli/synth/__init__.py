"""Synthetic degradations and the KADID-10k development benchmark.

- :mod:`~iqa_cli.synth.distortions`: the registry, ``apply(name, img, strength, rng)`` for 26 degradations in 7
  families (training, adaptation, robustness);
- :mod:`~iqa_cli.synth.degradations`: the degradations themselves, in their physical parameters;
- :mod:`~iqa_cli.synth.kernels`: MATLAB-faithful filters, resampling and colour conversions they are built on;
- :mod:`~iqa_cli.synth.kadid`: KADID-10k's 13 development conditions re-created exactly;
- :mod:`~iqa_cli.synth.devset`: the fixed pristine split and the development pairs (data folder passed in);
- :mod:`~iqa_cli.synth.denoiser`: the small DnCNN that makes KADID's "denoise" type.
"""
