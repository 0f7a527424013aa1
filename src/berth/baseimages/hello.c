/* The hello-world image's only program: say what just happened, then exit 0. */
#include <unistd.h>

static const char msg[] =
    "\n"
    "Hello from berth!\n"
    "This message shows that your installation appears to be working correctly.\n"
    "\n"
    "To print it, berth took these steps:\n"
    " 1. The berth (or docker) client asked the berth daemon to run \"hello-world\".\n"
    " 2. The daemon found the \"hello-world\" image in its local image store: it was\n"
    "    built on this machine from a tiny static program, so no registry was needed.\n"
    " 3. The daemon created a container from that image: its own process, hostname,\n"
    "    mounts and root filesystem, and started this program inside it.\n"
    " 4. The container's output was streamed back through the daemon to your client,\n"
    "    which printed it in your terminal.\n"
    "\n"
    "To try something more ambitious, run a shell in a container:\n"
    " $ berth run -it --rm busybox sh\n"
    "\n";

int main(void) {
    ssize_t off = 0, n;
    while (off < (ssize_t)(sizeof msg - 1)) {
        n = write(1, msg + off, sizeof msg - 1 - off);
        if (n <= 0)
            return 1;
        off += n;
    }
    return 0;
}
