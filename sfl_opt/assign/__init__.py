"""Exact subchannel assignment and optimality bounds.

- :mod:`.milp`: ``solve_exact`` — certified optimum of small instances by
  outer-approximation MILPs (Pyomo + HiGHS) inside a bisection on the deadline
  (method ``"milp"``: ``solve(problem, "milp")``);
- :mod:`.bnb`: ``solve_problem_bnb`` / ``solve_exact_bnb`` — certified optimum by
  branch-and-bound with the native bound (no solver), and ``native_lower_bound``;
- :mod:`.bound`: ``lower_bound`` — a convex relaxation (time-shared subchannels) giving
  a lower bound on T_total for any instance (``solve(..., bound=True)``).

Both import their optional dependencies (pyomo, cvxpy) only when used.
"""
