"""The model of SPEC §1-2 and §8: :mod:`.problem` (``Problem``, validation), :mod:`.scenario`
(the default scenario behind ``Problem.default``), :mod:`.workload` and :mod:`.profiles`
(measured per-block workload), :mod:`.hardware` (device/server catalogue),
:mod:`.memory` (client memory need), :mod:`.channel` and :mod:`.fading` (radio), and
:mod:`.delay` (the delay model ``evaluate``)."""

# importing the scenario installs Problem.default (model.problem.DEFAULT_SCENARIO)
from . import scenario  # noqa: E402, F401
