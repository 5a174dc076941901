// LD_PRELOAD helper for the GPU scripts: on SIGSEGV, print the native
// backtrace (function names of exported symbols) to stderr before dying, so
// a crash inside a library loaded by Python is not just "Segmentation
// fault". The GPU image has no gdb. Build: gcc -shared -fPIC -o segv.so this.
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
static void handler(int sig) {
  void* frames[64];
  int n = backtrace(frames, 64);
  write(2, "\n== SIGSEGV backtrace ==\n", 25);
  backtrace_symbols_fd(frames, n, 2);
  _exit(139);
}
__attribute__((constructor)) static void install(void) { signal(SIGSEGV, handler); }
