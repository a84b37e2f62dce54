"""kvcalc: exact KV-cache sizing for LLM serving.

Library use::

    from kvcalc.catalog import load_model
    from kvcalc.layers import expand
    from kvcalc.sizing import size
    from kvcalc.dtypes import kv_format

    groups = expand(load_model("llama3-70b"))
    fp16 = kv_format("fp16")
    size(groups, seq=2048, batch=32, k_format=fp16, v_format=fp16).total_bytes
    # 21474836480
"""

__version__ = "0.1.0"
