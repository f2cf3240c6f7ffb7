"""Exact subchannel assignment and optimality bounds.

- :mod:`.milp`: ``solve_exact`` — certified optimum of small instances by
  outer-approximation MILPs (Pyomo + HiGHS) inside a bisection on the deadline
  (method ``"milp"``: ``solve(problem, "milp")``);
- :mod:`.bnb`: ``solve_problem_bnb`` / ``solve_exact_bnb`` — certified optimum by
  branch-and-bound with the native bound (no solver; method ``"exact"``), and
  ``native_lower_bound`` (the bound ``solve`` puts on every result by default);
- :mod:`.bound`: ``lower_bound`` — a convex relaxation (time-shared subchannels) giving
  a lower bound on T_total for any instance (``solve(..., bound="relaxation")``).

Both import their optional dependencies (pyomo, cvxpy) only when used.
"""
