"""Course tooling: run lessons in bulk on Dask (homework sweeps, grading), hand-outs, reports.

``execute`` runs notebooks as Dask tasks; ``lessons`` reads and checks lessons' parameters;
``homework`` sweeps a lesson over a grid of parameters and seeds; ``report`` writes the HTML.
Submodules are imported on use: ``import ganlessons`` must stay light for a notebook.
"""
