// The bf16 half of cpu/attention.cpp's instantiations: the same file compiled
// again with LOCKSTEP_ATTENTION_BF16, so the two halves (~60 s each at -O3)
// build in parallel instead of one 120-s file on the build's critical path.
#define LOCKSTEP_ATTENTION_BF16 1
#include "kernels/cpu/attention.cpp"
