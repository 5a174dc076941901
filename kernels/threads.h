// The intra-op threads of the thread that runs a model (an engine's
// scheduler), where libtorch is built with OpenMP (libgomp).
#pragma once

namespace lockstep::kernels {

// Frees the calling thread's OpenMP team (omp_pause_resource_all, soft), so
// that the thread which runs the model next is libgomp's only team. Once
// libgomp manages more threads than there are CPUs it cuts its spin-wait to
// ~100 iterations: with the loading thread's idle team still alive, an
// engine's intra-op worker fell asleep between any two parallel regions and
// woke late for the next, so on 2 cores the second thread added 8-24% to a
// decode step instead of ~90% (core/PERF.md, "CPU: one OpenMP team").
// Bits do not depend on it. Returns false where nothing was freed (no
// OpenMP, or called inside a parallel region).
bool release_thread_team();

}  // namespace lockstep::kernels
