"""Candidate structures for reference calculations (``anncli sample``).

* :mod:`anncli.sampling.generators` — one function per kind: rattle, strain, vacancies,
  interstitials, substitutions, surface slabs, MD snapshots;
* :mod:`anncli.sampling.pool` — every generator on every ideal structure, seeded per candidate;
* :mod:`anncli.sampling.thinning` — structure fingerprints in descriptor space, farthest-point
  sampling, the covering radius it reaches;
* :mod:`anncli.sampling.summary` — the summary table, CSV and the 2-D picture of the selection.

:func:`anncli.workflows.sample.sample_candidates` ties them together in memory (what the
active-learning loop calls); :func:`anncli.workflows.sample.run` is the command.
"""
