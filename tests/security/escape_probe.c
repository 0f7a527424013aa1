/* Escape probes for berth's security tests: run inside a container, each attempt prints one line
 * "<name> allowed" or "<name> blocked <ERRNO>". Nothing destructive is ever done: files that
 * would change the host (sysrq-trigger, /proc/sys, /sys) are only opened for writing, kexec and
 * reboot use arguments the kernel rejects after its permission check, modules are empty.
 *
 * usage: escape_probe all <host-pid> <marker-path> <disk-major> <disk-minor>
 *        escape_probe euid | forkbomb <max> | memory <MiB>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

static void report(const char *name, int rc, int err) {
    if (rc >= 0) printf("%s allowed\n", name);
    else printf("%s blocked %s\n", name, strerrorname_np(err) ? strerrorname_np(err) : "E?");
    fflush(stdout);
}

#define TRY(name, expr) do { errno = 0; long _rc = (long)(expr); report(name, _rc < 0 ? -1 : 0, errno); } while (0)

/* A syscall whose permission check passed but whose arguments were refused counts as allowed. */
static void try_past_check(const char *name, long rc, int einval_is_allowed) {
    int err = errno;
    if (rc < 0 && einval_is_allowed && (err == EINVAL || err == EFAULT || err == ENOEXEC || err == ENOENT || err == EBUSY))
        rc = 0;
    report(name, rc < 0 ? -1 : 0, err);
}

static int open_only(const char *path, int flags) {
    int fd = open(path, flags);
    if (fd >= 0) close(fd);
    return fd;
}

static int read_one(const char *path) {
    char c;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, &c, 1);
    int err = errno;
    close(fd);
    if (n == 1) return 0;
    errno = n == 0 ? ENODATA : err; /* masked paths are /dev/null: empty */
    return -1;
}

static int clone_child(void *arg) { (void)arg; return 0; }

static int clone_userns(void) {
    static char stack[64 * 1024];
    pid_t pid = clone(clone_child, stack + sizeof stack, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, NULL);
    if (pid < 0) return -1;
    waitpid(pid, NULL, 0);
    return 0;
}

/* In a child, so the probe itself keeps its namespaces for the later attempts. */
static int in_child_unshare(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 ? 0 : errno);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    errno = WIFEXITED(status) ? WEXITSTATUS(status) : EPERM;
    return -1;
}

static int chroot_escape(const char *marker) {
    pid_t pid = fork();
    if (pid == 0) {
        mkdir("/tmp/probe-jail", 0700);
        int fd = open("/", O_RDONLY | O_DIRECTORY);
        if (fd < 0 || chroot("/tmp/probe-jail") < 0) _exit(2);
        if (fchdir(fd) < 0) _exit(2);
        for (int i = 0; i < 64; i++) if (chdir("..") < 0) _exit(2);
        if (chroot(".") < 0) _exit(2);
        struct stat st;
        _exit(stat(marker, &st) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    errno = WIFEXITED(status) && WEXITSTATUS(status) == 1 ? ENOENT : EPERM;
    return -1;
}

static int read_disk(unsigned maj, unsigned min) {
    unlink("/tmp/probe-disk");
    if (mknod("/tmp/probe-disk", S_IFBLK | 0600, makedev(maj, min)) < 0) return -1;
    int rc = read_one("/tmp/probe-disk");
    int err = errno;
    unlink("/tmp/probe-disk");
    errno = err;
    return rc;
}

static int perf_open(void) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.exclude_kernel = 1;
    long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    if (fd >= 0) close((int)fd);
    return (int)fd;
}

static int bpf_map(void) {
    uint32_t attr[16] = {2 /* BPF_MAP_TYPE_ARRAY */, 4, 8, 1};
    long fd = syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr);
    if (fd >= 0) close((int)fd);
    return (int)fd;
}

static int all(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: all <host-pid> <marker> <major> <minor>\n"); return 2; }
    pid_t host_pid = atoi(argv[2]);
    mkdir("/tmp/probe-mnt", 0700);
    TRY("mount", mount("none", "/tmp/probe-mnt", "tmpfs", 0, NULL));
    errno = 0; /* would unmask it; EINVAL (not a mount point, when privileged) passed the check */
    try_past_check("umount", umount2("/proc/timer_list", MNT_DETACH), 1);
    TRY("unshare_userns", in_child_unshare());
    TRY("clone_userns", clone_userns());
    TRY("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
    TRY("add_key", syscall(SYS_add_key, "user", "berth-probe", "x", 1, -2 /* process */));
    TRY("bpf", bpf_map());
    TRY("perf_event_open", perf_open());
    errno = 0;
    try_past_check("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0xffff0000UL), 1);
    errno = 0;
    try_past_check("init_module", syscall(SYS_init_module, NULL, 0, ""), 1);
    errno = 0;
    try_past_check("reboot", syscall(SYS_reboot, 0xfee1dead, 0x28121969, 0 /* CAD_OFF */, NULL), 1);
    errno = 0;
    try_past_check("swapon", swapon("/nonexistent-swap", 0), 1);
    TRY("ptrace_host", ptrace(PTRACE_ATTACH, host_pid, NULL, NULL));
    TRY("sysrq_trigger", open_only("/proc/sysrq-trigger", O_WRONLY));
    TRY("kcore", read_one("/proc/kcore"));
    TRY("timer_list", read_one("/proc/timer_list"));
    TRY("proc_sys_kernel", open_only("/proc/sys/kernel/panic", O_WRONLY));
    TRY("write_sys", access("/sys/kernel", W_OK));
    TRY("host_disk", read_disk((unsigned)atoi(argv[4]), (unsigned)atoi(argv[5])));
    TRY("raw_socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    TRY("chroot_escape", chroot_escape(argv[3]));
    TRY("host_pid_visible", kill(host_pid, 0));
    return 0;
}

static int forkbomb(int max) {
    int n = 0;
    for (; n < max; n++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) { pause(); _exit(0); }
    }
    printf("forked %d\n", n);
    fflush(stdout);
    kill(0, SIGKILL);
    return 0;
}

static int memory(long mib) {
    for (long i = 0; i < mib; i++) {
        char *p = malloc(1 << 20);
        if (!p) { printf("malloc failed at %ld MiB\n", i); return 1; }
        memset(p, 1, 1 << 20);
    }
    printf("touched %ld MiB\n", mib);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "all")) return all(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "euid")) { printf("euid %d\n", (int)geteuid()); return 0; }
    if (argc >= 3 && !strcmp(argv[1], "forkbomb")) return forkbomb(atoi(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "memory")) return memory(atol(argv[2]));
    fprintf(stderr, "usage: escape_probe all|euid|forkbomb N|memory MiB\n");
    return 2;
}
