"""The engine between the model and the methods: :mod:`.prepared` (a problem prepared once:
links, pair table, power subproblems), :mod:`.result` (``SolveResult``, the one result
type of every method) and :mod:`.bounds` (the cvxpy time-sharing relaxation bound)."""
