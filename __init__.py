"""Grokking theory workbench: derived (SymPy), solved (DMFT, ODE) and simulated (torch) theories
of grokking, stored as labelled datasets.

The repository's folders install as subpackages of this one namespace:
``grokking_workbench.theory`` (derivations and generated code), ``grokking_workbench.numerics``
(solvers, simulators, dataset I/O) and ``grokking_workbench.experiments`` (the registered
experiments and the ``grokking`` command).
"""
