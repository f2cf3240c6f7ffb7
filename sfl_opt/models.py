"""``sfl_opt.models``: the catalogue of LLM architectures (:mod:`sfl_opt.architectures`).

    from sfl_opt.models import MODELS, get_model
    arch = get_model("llama-3.2-1b")
    w = arch.workload(seq=512, weight_bits=4)     # a sfl_opt.Workload
"""

from .architectures import MODELS, Architecture, available, get_model

__all__ = ["MODELS", "Architecture", "available", "get_model"]
