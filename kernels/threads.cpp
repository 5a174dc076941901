#include "kernels/threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace lockstep::kernels {

bool release_thread_team() {
#ifdef _OPENMP
  return omp_pause_resource_all(omp_pause_soft) == 0;
#else
  return false;
#endif
}

}  // namespace lockstep::kernels
