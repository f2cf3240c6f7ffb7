"""Numba kernels (``@njit(cache=True)``); each also runs as plain Python under
``NUMBA_DISABLE_JIT=1``.

- :mod:`.waterfill`: minimum power for a rate / maximum rate for a power, one client;
- :mod:`.power`: exact power control for a fixed assignment (bisection on the deadline);
- :mod:`.greedy`: straggler-first greedy subchannel allocation;
- :mod:`.partition`: exact assignment of a small link (subset DP over all assignments);
- :mod:`.localsearch`: move/swap local search with incremental evaluation;
- :mod:`.refine`: refinement (exact when small, else local search) and kicks;
- :mod:`.search`: exhaustive (split, rank) search for a fixed assignment;
- :mod:`.bounds`: cheap lower bounds on a link's stage delay;
- :mod:`.lagrange`: the native bound (Lagrangian dual of the time-sharing relaxation);
- :mod:`.columns`: the per-client subchannel-set bound (whole subchannels per client);
- :mod:`.bnb`: branch-and-bound pieces (branching, symmetry breaking, node bound).
"""

from .bounds import link_rate_bounds, link_rate_bounds_sorted, stage_lower_bound
from .greedy import gain_order, greedy_assign
from .localsearch import local_search
from .partition import partition_is_cheap, partition_optimum
from .power import client_needs, gather_clients, link_check, power_control
from .refine import perturb_search, refine_assign
from .search import compose_total, search_pairs
from .waterfill import max_rate_for_power, min_power_for_rate, normalise, psd_at_level

__all__ = [
    "client_needs", "compose_total", "gain_order", "gather_clients", "greedy_assign",
    "link_check", "link_rate_bounds", "link_rate_bounds_sorted", "local_search",
    "max_rate_for_power",
    "min_power_for_rate", "normalise", "partition_is_cheap", "partition_optimum",
    "perturb_search", "power_control", "psd_at_level", "refine_assign", "search_pairs",
    "stage_lower_bound",
]
