"""The integer units the ML families compute in, so models and simulators agree exactly."""

TICKS_PER_MS = 1000  # integer time unit: microseconds
KIB = 1024  # integer memory unit of the pipeline family
MIB = 2**20  # integer memory unit of the offload family
GB = 1e9
