"""Studies built on ``solve``: :mod:`.sweep` (runs over a parameter grid, the executor in
:mod:`.executor`), :mod:`.analysis` (comparison, summaries), :mod:`.report` (tables),
:mod:`.plots` / :mod:`.figures` / :mod:`.radio_figures` (figures), :mod:`.regimes` (when
split and rank matter) and :mod:`.dynamic` (training under block fading)."""
