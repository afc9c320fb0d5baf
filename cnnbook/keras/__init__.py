"""cnnbook's Keras engine: layers, models, training helpers and the fast recipe, in Keras 3.

cnnbook has two engines, side by side:

- :mod:`cnnbook.nn` and the NumPy core (:mod:`cnnbook.conv`, :mod:`cnnbook.pool`,
  :mod:`cnnbook.regularization`): every computation written out in NumPy, to read and
  to check by hand;
- :mod:`cnnbook.keras` (this package): the same ideas as Keras 3 code that trains on
  TensorFlow, JAX or PyTorch, on a CPU or a GPU.

Its modules:

- :mod:`cnnbook.keras.layers`: DropConnect and stochastic pooling as Keras layers
  (chapter 11);
- :mod:`cnnbook.keras.models`: the tutorial's network and the improved one (9a-9c);
- :mod:`cnnbook.keras.training`: data subsets, the CIFAR-10 input pipeline, schedules,
  seeded training runs (9a-11);
- :mod:`cnnbook.keras.fast_training`: airbench94's fast recipe (9d), a package of one
  module per part of the recipe; :func:`cnnbook.runtime.data_parallel` runs it on several
  devices.

Each module that uses Keras imports it at its top, in one way: ``keras = import_keras()``
(:func:`cnnbook.runtime.import_keras`), which imports it on the backend
``KERAS_BACKEND`` names, TensorFlow quietly. So importing a module of this package
imports Keras; ``import cnnbook`` alone does not.
"""
