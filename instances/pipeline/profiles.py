"""Pipeline problems from a model's shape: built-in profiles of well-known models, or a Hugging Face
`config.json`.

Times come from analytic FLOPs (Narayanan et al., "Efficient Large-Scale Language Model Training on
GPU Clusters Using Megatron-LM", SC'21: a decoder layer's forward costs 2 x its matmul parameters
per token plus 4 b s^2 h for attention, halved for the causal mask; the backward twice the forward)
divided by the GPU's dense bf16 peak times an assumed efficiency. Activation memory follows
Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models" (MLSys'23), as
Megatron-LM's `theoretical_memory_usage.py` implements it: s b h (18 + 4 ffn / h) / t bytes per
layer with sequence parallelism and selective recomputation (flash attention), 2 s b h / t with
full recomputation, and 4 s b h (1 + V / h) / t for the output layer and the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from cpsched.instances.errors import InputError
from cpsched.instances.pipeline.problem import Layer, PipelineProblem, Recompute


@dataclass(frozen=True)
class ModelShape:
    """What the formulas need from a model's config."""

    name: str
    layers: int
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    vocab: int
    gated: bool = True  # SwiGLU: three MLP matrices
    tied: bool = False
    experts: int = 0  # routed experts per MoE layer (0: dense)
    top_k: int = 0
    expert_ffn: int = 0
    shared_experts: int = 0
    dense_layers: int = 0  # the first layers stay dense (DeepSeek's first_k_dense_replace)
    mla: tuple[int, int, int, int, int] | None = None  # q_lora, kv_lora, qk_nope, qk_rope, v head dims


PROFILES: dict[str, ModelShape] = {shape.name: shape for shape in (
    ModelShape("gpt2-small", 12, 768, 3072, 12, 12, 50257, gated=False, tied=True),
    ModelShape("gpt2-medium", 24, 1024, 4096, 16, 16, 50257, gated=False, tied=True),
    ModelShape("gpt2-large", 36, 1280, 5120, 20, 20, 50257, gated=False, tied=True),
    ModelShape("gpt2-xl", 48, 1600, 6400, 25, 25, 50257, gated=False, tied=True),
    ModelShape("llama2-7b", 32, 4096, 11008, 32, 32, 32000),
    ModelShape("llama2-13b", 40, 5120, 13824, 40, 40, 32000),
    ModelShape("llama2-70b", 80, 8192, 28672, 64, 8, 32000),
    ModelShape("llama3-8b", 32, 4096, 14336, 32, 8, 128256),
    ModelShape("llama3-70b", 80, 8192, 28672, 64, 8, 128256),
    ModelShape("llama3.1-405b", 126, 16384, 53248, 128, 8, 128256),
    ModelShape("mixtral-8x7b", 32, 4096, 14336, 32, 8, 32000, experts=8, top_k=2, expert_ffn=14336),
    ModelShape("qwen2.5-7b", 28, 3584, 18944, 28, 4, 152064),
    ModelShape("qwen2.5-14b", 48, 5120, 13824, 40, 8, 152064),
    ModelShape("deepseek-v3", 61, 7168, 18432, 128, 128, 129280, experts=256, top_k=8, expert_ffn=2048,
               shared_experts=1, dense_layers=3, mla=(1536, 512, 128, 64, 128)),
)}

GPUS = {  # dense bf16 peak (TFLOPS) and memory (GB)
    "a100": (312.0, 80.0),
    "h100": (989.0, 80.0),
    "h200": (989.0, 141.0),
    "b200": (2250.0, 180.0),
}


def _attention_params(shape: ModelShape) -> float:
    h = shape.hidden
    if shape.mla is not None:
        q_lora, kv_lora, nope, rope, v = shape.mla
        a = shape.heads
        return h * q_lora + q_lora * a * (nope + rope) + h * (kv_lora + rope) + kv_lora * a * (nope + v) + a * v * h
    head_dim = h // shape.heads
    return 2 * h * h + 2 * h * shape.kv_heads * head_dim


def _mlp_params(hidden: int, ffn: int, gated: bool) -> float:
    return (3 if gated else 2) * hidden * ffn


@dataclass(frozen=True)
class ProfileOptions:
    """How the model is trained: sequence, microbatch, tensor parallelism, GPU and pipeline."""

    seq: int = 4096
    micro_batch: int = 1
    tp: int = 1
    gpu: str = "h100"
    efficiency: float = 0.5  # achieved share of the GPU's peak in the matmuls
    stages: int = 4
    microbatches: int | None = None  # default 4 x stages
    schedule: str = "1f1b"
    virtual_stages: int = 1
    memory_gb: float | None = None  # default: the GPU's memory
    bytes_per_param: float = 18.0
    p2p_gbps: float = 50.0
    vocab_shards: int = 1  # > 1: the output layer may be cut into this many shards (vocabulary parallelism)


def layer_flops(shape: ModelShape, seq: int, micro_batch: int, moe: bool) -> float:
    """Forward FLOPs of one decoder layer for one microbatch: Narayanan et al.'s count, with the
    attention term 4 b s^2 h halved for the causal mask (flash attention skips the masked half)."""
    tokens = seq * micro_batch
    if moe:
        mlp = (shape.top_k + shape.shared_experts) * _mlp_params(shape.hidden, shape.expert_ffn, shape.gated)
    else:
        mlp = _mlp_params(shape.hidden, shape.ffn, shape.gated)
    return 2 * tokens * (_attention_params(shape) + mlp) + 2 * micro_batch * seq * seq * shape.hidden  # causal


def profile_problem(shape: ModelShape, options: ProfileOptions) -> PipelineProblem:
    """The pipeline problem of training `shape` as `options` says."""
    if options.gpu not in GPUS:
        raise InputError(f"unknown GPU '{options.gpu}'; choose one of {', '.join(GPUS)}")
    peak, memory = GPUS[options.gpu]
    s, b, h, t = options.seq, options.micro_batch, shape.hidden, options.tp
    if h % t or shape.heads % t:
        raise InputError(f"tensor parallelism {t} must divide the hidden size {h} and the heads {shape.heads}")
    flops_per_ms = peak * 1e12 * options.efficiency * t / 1e3  # t GPUs share each layer

    def ms(flops: float) -> float:
        return flops / flops_per_ms

    boundary = 2 * s * b * h / t  # bf16 hidden states, sequence parallel
    layers = []
    embedding_params = shape.vocab * h / t
    layers.append(Layer("embedding", "embedding", ms(2 * s * b * h), ms(4 * s * b * h), embedding_params,
                        s * b * h * 2 / t + 8 * s * b, boundary))
    for i in range(shape.layers):
        moe = shape.experts > 0 and i >= shape.dense_layers
        mlp = (_mlp_params(h, shape.expert_ffn, shape.gated) * (shape.experts + shape.shared_experts)
               if moe else _mlp_params(h, shape.ffn, shape.gated))
        params = (_attention_params(shape) + mlp) / t
        forward = ms(layer_flops(shape, s, b, moe))
        ffn = shape.expert_ffn * shape.top_k if moe else shape.ffn
        activation = s * b * h * (18 + 4 * ffn / h) / t
        layers.append(Layer(f"layer{i}", "moe_decoder" if moe else "decoder", forward, 2 * forward, params,
                            activation, boundary, Recompute(2 * s * b * h / t, forward)))
    output_flops = 2 * s * b * h * shape.vocab
    layers.append(Layer("output", "output", ms(output_flops), ms(2 * output_flops), shape.vocab * h / t,
                        4 * s * b * h * (1 + shape.vocab / h) / t, 0.0, shards=options.vocab_shards,
                        sync_bytes=8 * s * b if options.vocab_shards > 1 else 0.0))  # fp32 max and sum per token
    microbatches = options.microbatches or 4 * options.stages
    decoder_flops = sum(layer_flops(shape, s, b, shape.experts > 0 and i >= shape.dense_layers)
                        for i in range(shape.layers))
    model = {"profile": shape.name, "seq": s, "micro_batch": b, "tp": t, "gpu": options.gpu,
             "efficiency": options.efficiency, "peak_tflops": peak,
             "flops_per_microbatch": 3 * (decoder_flops + output_flops)}  # forward + backward (2x)
    return PipelineProblem(
        name=f"{shape.name}-p{options.stages}-m{microbatches}",
        layers=tuple(layers),
        stages=options.stages,
        microbatches=microbatches,
        schedule=options.schedule,
        virtual_stages=options.virtual_stages,
        bytes_per_param=options.bytes_per_param,
        memory_gb=(options.memory_gb or memory,) * options.stages,
        p2p_gbps=options.p2p_gbps,
        model=model,
    )


def _get(config: dict, source: str, *keys: str, default: object = None) -> object:
    for key in keys:
        if key in config:
            return config[key]
    if default is None:
        raise InputError(f"config has none of {', '.join(keys)}", source=source)
    return default


def shape_from_hf_config(path: str | Path) -> ModelShape:
    """A ModelShape from a Hugging Face config.json (Llama, Qwen, Mistral/Mixtral, GPT-2, DeepSeek)."""
    from cpsched.instances.jobshop.formats import read_json_document

    source = str(path)
    config = read_json_document(path)
    if not isinstance(config, dict):
        raise InputError("expected a JSON object (a Hugging Face config.json)", source=source)
    hidden = int(_get(config, source, "hidden_size", "n_embd", "d_model"))
    heads = int(_get(config, source, "num_attention_heads", "n_head"))
    gpt2 = config.get("model_type") == "gpt2"
    ffn = config.get("intermediate_size") or config.get("n_inner") or 4 * hidden
    mla = None
    if "kv_lora_rank" in config:
        mla = (int(config.get("q_lora_rank") or hidden), int(config["kv_lora_rank"]),
               int(config["qk_nope_head_dim"]), int(config["qk_rope_head_dim"]), int(config["v_head_dim"]))
    try:
        return ModelShape(
            name=str(config.get("_name_or_path") or config.get("model_type") or Path(path).stem).split("/")[-1],
            layers=int(_get(config, source, "num_hidden_layers", "n_layer", "num_layers")),
            hidden=hidden, ffn=int(ffn), heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            vocab=int(_get(config, source, "vocab_size")),
            gated=not gpt2 and config.get("hidden_act", "silu") in ("silu", "swiglu", "gelu_pytorch_tanh"),
            tied=bool(config.get("tie_word_embeddings", gpt2)),
            experts=int(config.get("num_local_experts") or config.get("n_routed_experts") or 0),
            top_k=int(config.get("num_experts_per_tok") or 0),
            expert_ffn=int(config.get("moe_intermediate_size") or ffn),
            shared_experts=int(config.get("n_shared_experts") or 0),
            dense_layers=int(config.get("first_k_dense_replace") or 0),
            mla=mla,
        )
    except (TypeError, ValueError) as error:
        raise InputError(f"config has a value of the wrong type: {error}", source=source) from None


def model_shape(model: str) -> ModelShape:
    """A built-in profile by name, or the shape in a config.json file."""
    if Path(model).is_file():
        return shape_from_hf_config(model)
    key = model.lower()
    if key not in PROFILES:
        raise InputError(f"'{model}' is neither a config.json file nor a built-in profile; "
                         f"choose one of {', '.join(PROFILES)}")
    return PROFILES[key]


def mfu(problem: PipelineProblem, iteration_ms: float) -> float:
    """Model FLOPs utilisation of an iteration: the model's FLOPs over what the devices could do."""
    flops = problem.model.get("flops_per_microbatch")
    peak = problem.model.get("peak_tflops")
    if not flops or not peak or iteration_ms <= 0:
        return math.nan
    return flops * problem.microbatches / (iteration_ms / 1e3 * peak * 1e12 * problem.stages * problem.model["tp"])


def profile_json(problem: PipelineProblem) -> str:
    from cpsched.instances.pipeline.problem import write_pipeline

    return write_pipeline(problem)

