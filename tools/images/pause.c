// The pod sandbox ("pause") image of the test node: holds the pod's namespaces open and reaps
// zombies (it is PID 1 when the pod shares its process namespace). Built static by
// tools/build_images.sh; never pulled from a registry.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char** argv) {
  if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') {
    printf("aiops-pause 1\n");
    return 0;
  }
  struct sigaction term = {.sa_handler = on_term};
  sigaction(SIGINT, &term, NULL);
  sigaction(SIGTERM, &term, NULL);
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return 42;  // unreachable
}
