"""The reference generator: what the authors' released checkpoints look like and what their
models compute, recorded as figures for mmrest's tests (``tools/dev/make_reference_outputs.py``
runs it).

One module per source: :mod:`.imagenet` (the authors' ImageNet classifiers), :mod:`.upernet`
(their ADE20K UperNets, mmseg 0.x), :mod:`.detectron2` (their detectron2 detectors); :mod:`.files`
writes what they record. The models are filled by the rule of ``tests/reference_weights.py``,
which the tests rebuild the files with.
"""
