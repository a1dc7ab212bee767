/*
 * Romulus guest init: PID 1 of every Romulus microVM (static, no libc beyond what -static links in).
 *
 * Boot contract (docs/DEVELOPING.md): the kernel mounts the image's base rootfs (/dev/vda) read-only and
 * runs us. We
 *   1. mount devtmpfs + proc, read romulus.* keys from /proc/cmdline, set the clock from romulus.time
 *      (microvm has no RTC: without this the guest thinks it is 1970),
 *   2. build the root the workload sees: an overlay with the read-only base as lower layer and upper/work
 *      on the VM's own disk (romulus.disk, ext4), so every write lands on that disk and never on the
 *      shared base image; without romulus.disk (probe boots) the upper layer is a tmpfs,
 *   3. switch into it (mount-move + chroot, like switch_root), mount sys/run/tmp/pts/shm/cgroup2,
 *      bring lo up, set the hostname,
 *   4. start the guest agent (the bundled Node in /opt/romulus, as root) and reap zombies forever,
 *   5. power off (sync + reboot(RB_AUTOBOOT); QEMU runs with -no-reboot and Firecracker exits on reset)
 *      on SIGTERM/SIGINT/SIGPWR, on SIGUSR2 (the agent asks), or when the agent exits for any reason:
 *      a VM without its agent cannot be controlled, so it must not linger.
 *
 * Everything it says goes to the serial console prefixed "romulus-init: ". It never sees secrets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODE_BIN "/opt/romulus/node/bin/node"
#define AGENT_JS "/opt/romulus/guest-agent.js"
/* Scratch space in the old (read-only) root: /run exists in every image the builders produce. */
#define SCRATCH "/run"
#define LOWER SCRATCH "/romulus-lower"
#define RW SCRATCH "/romulus-rw"
#define NEWROOT SCRATCH "/romulus-root"
/* How long processes get between SIGTERM and SIGKILL at power-off. */
#define TERM_GRACE_MS 3000

static double init_started_at_uptime;

static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  static const char prefix[] = "romulus-init: ";
  if (write(2, prefix, sizeof prefix - 1) < 0 || write(2, buf, n) < 0) { /* console gone: nothing to do */ }
}

static double uptime_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mount_fs(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  mkdir(dst, 0755); /* may already exist or live on a read-only fs: mount() reports the real problem */
  if (mount(src, dst, type, flags, data) != 0) {
    say("mount %s on %s (%s) failed: %s", src, dst, type ? type : "-", strerror(errno));
    return -1;
  }
  return 0;
}

/* The kernel's console for fds 0-2 may be missing (the rootfs need not carry /dev/console): reopen it
 * from devtmpfs so both we and the agent write to the serial console. */
static void open_console(void) {
  int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < 3; i++) dup2(fd, i); /* dup2 clears O_CLOEXEC on the copies */
  if (fd > 2) close(fd);
}

/* --- kernel command line ------------------------------------------------------------------------------ */

static char cmdline[4096];

/* Value of `key=` on the command line (copied into out), or NULL. */
static const char *cmdline_get(const char *key, char *out, size_t outlen) {
  size_t klen = strlen(key);
  const char *p = cmdline;
  while (*p) {
    while (*p == ' ' || *p == '\n') p++;
    const char *end = p;
    while (*end && *end != ' ' && *end != '\n') end++;
    if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      size_t vlen = end - p - klen - 1;
      if (vlen >= outlen) vlen = outlen - 1;
      memcpy(out, p + klen + 1, vlen);
      out[vlen] = 0;
      return out;
    }
    p = end;
  }
  return NULL;
}

static void read_cmdline(void) {
  int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
  close(fd);
  cmdline[n > 0 ? n : 0] = 0;
}

static void set_clock_from_cmdline(void) {
  char v[32];
  if (!cmdline_get("romulus.time", v, sizeof v)) return;
  char *end;
  long long ms = strtoll(v, &end, 10);
  if (*end || ms <= 0) { say("ignoring bad romulus.time"); return; }
  struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
  if (settimeofday(&tv, NULL) != 0) say("settimeofday: %s", strerror(errno));
}

/* --- root: overlay of the read-only base and the VM's disk, then switch into it ----------------------- */

/* Returns 0 when we now run inside the overlay root, -1 when we stayed on the read-only base. */
static int switch_to_overlay_root(const char *disk) {
  if (mount_fs("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) return -1;
  /* A plain (non-recursive) bind of / gives the base fs without /dev, /proc, /run on top of it. */
  if (mount_fs("/", LOWER, NULL, MS_BIND, NULL) != 0) return -1;
  mount(NULL, LOWER, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
  if (disk) {
    if (mount_fs(disk, RW, "ext4", MS_NOATIME | MS_NOSUID | MS_NODEV, NULL) != 0) return -2;
  } else if (mount_fs("tmpfs", RW, "tmpfs", 0, "mode=0755") != 0) {
    return -1;
  }
  mkdir(RW "/upper", 0755);
  mkdir(RW "/work", 0755);
  if (mount_fs("overlay", NEWROOT, "overlay", 0,
               "lowerdir=" LOWER ",upperdir=" RW "/upper,workdir=" RW "/work") != 0)
    return disk ? -2 : -1;
  /* Carry the API filesystems across, then make the overlay the root (what switch_root does). */
  static const char *carried[] = { "/dev", "/proc" };
  for (size_t i = 0; i < sizeof carried / sizeof *carried; i++) {
    char dst[128];
    snprintf(dst, sizeof dst, NEWROOT "%s", carried[i]);
    mkdir(dst, 0755);
    if (mount(carried[i], dst, NULL, MS_MOVE, NULL) != 0) say("move %s: %s", carried[i], strerror(errno));
  }
  if (chdir(NEWROOT) != 0 || mount(NEWROOT, "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 || chdir("/") != 0) {
    say("switch root failed: %s", strerror(errno));
    return -2; /* half moved: not safe to go on */
  }
  return 0;
}

static void mount_api_filesystems(void) {
  mount_fs("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  mount_fs("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666");
  mount_fs("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  mount_fs("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate");
  /* devtmpfs has no /dev/fd & co; shells and runtimes expect them. */
  symlink("/proc/self/fd", "/dev/fd");
  symlink("/proc/self/fd/0", "/dev/stdin");
  symlink("/proc/self/fd/1", "/dev/stdout");
  symlink("/proc/self/fd/2", "/dev/stderr");
}

/* Under TCG every block request is expensive to emulate and Node's first start faults in tens of MB of
 * its binary: large readahead turns many small reads into few big ones. */
static void tune_readahead(void) {
  static const char *devs[] = { "/sys/block/vda/queue/read_ahead_kb", "/sys/block/vdb/queue/read_ahead_kb" };
  for (size_t i = 0; i < sizeof devs / sizeof *devs; i++) {
    int fd = open(devs[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (write(fd, "4096", 4) < 0) say("readahead %s: %s", devs[i], strerror(errno));
    close(fd);
  }
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) say("lo up: %s", strerror(errno));
  }
  close(s);
}

/* DNS: the node may pass resolvers in ip= (…:off:<dns0>:<dns1>); the kernel lists them in /proc/net/pnp in
 * resolv.conf format. Images ship an empty /etc/resolv.conf (the build host's must not leak in), so point
 * it there when the kernel has resolvers and the image did not bring its own. */
static void link_resolv_conf(void) {
  char buf[512];
  int fd = open("/proc/net/pnp", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  if (!strstr(buf, "nameserver")) return;
  struct stat st;
  if (lstat("/etc/resolv.conf", &st) == 0 && !(S_ISREG(st.st_mode) && st.st_size == 0)) return;
  unlink("/etc/resolv.conf");
  if (symlink("/proc/net/pnp", "/etc/resolv.conf") != 0) say("resolv.conf: %s", strerror(errno));
}

/* The kernel's ip= sets the hostname; fall back to the VM id so it is never "(none)". */
static void set_hostname(void) {
  struct utsname u;
  if (uname(&u) == 0 && u.nodename[0] && strcmp(u.nodename, "(none)") != 0) return;
  char id[65];
  const char *name = cmdline_get("romulus.id", id, sizeof id) ? id : "romulus";
  if (sethostname(name, strlen(name)) != 0) say("sethostname: %s", strerror(errno));
}

/* The TCP channel key (romulus.chkey) must not be readable by the unprivileged workload: it would let it
 * authenticate to the agent as the host. /proc/cmdline is world-readable, so we bind a copy without the key
 * over it, hand the key to the agent in its (root-only) environment, and restrict dmesg, which echoes the
 * command line. */
static char channel_key[160];

static void hide_channel_key(void) {
  static const char key[] = "romulus.chkey=";
  if (!cmdline_get("romulus.chkey", channel_key, sizeof channel_key)) return;
  char clean[sizeof cmdline];
  size_t n = 0;
  const char *p = cmdline;
  while (*p) {
    const char *end = p;
    while (*end && *end != ' ' && *end != '\n') end++;
    if (strncmp(p, key, sizeof key - 1) != 0 && end > p) {
      if (n) clean[n++] = ' ';
      memcpy(clean + n, p, end - p);
      n += end - p;
    }
    p = *end ? end + 1 : end;
  }
  clean[n++] = '\n';
  mkdir("/run/romulus", 0755);
  int fd = open("/run/romulus/cmdline", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
  if (fd < 0 || write(fd, clean, n) != (ssize_t)n) say("cannot write the public cmdline: %s", strerror(errno));
  if (fd >= 0) close(fd);
  if (mount("/run/romulus/cmdline", "/proc/cmdline", NULL, MS_BIND, NULL) != 0 ||
      mount(NULL, "/proc/cmdline", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0)
    say("cannot hide the channel key from /proc/cmdline: %s", strerror(errno));
}

static void restrict_dmesg(void) {
  int fd = open("/proc/sys/kernel/dmesg_restrict", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (write(fd, "1", 1) < 0) say("dmesg_restrict: %s", strerror(errno));
    close(fd);
  }
}

/* --- the agent and power-off -------------------------------------------------------------------------- */

static pid_t start_agent(const sigset_t *original_mask) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  sigprocmask(SIG_SETMASK, original_mask, NULL);
  setsid();
  char started[64];
  snprintf(started, sizeof started, "ROMULUS_INIT_STARTED_AT_UPTIME=%.3f", init_started_at_uptime);
  char key[200];
  snprintf(key, sizeof key, "ROMULUS_CHANNEL_KEY=%s", channel_key);
  char *envp[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    started,
    channel_key[0] ? key : NULL,
    NULL,
  };
  char *argv[] = { NODE_BIN, AGENT_JS, NULL };
  execve(NODE_BIN, argv, envp);
  say("cannot start the guest agent (%s): %s", NODE_BIN, strerror(errno));
  _exit(127);
}

static void reap(pid_t agent, int *agent_status, int *agent_gone) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == agent) { *agent_status = status; *agent_gone = 1; }
  }
}

static void power_off(const char *why) {
  say("power off: %s", why);
  kill(-1, SIGTERM);
  double deadline = uptime_now() + TERM_GRACE_MS / 1000.0;
  /* Reap until every process is gone (ECHILD) or the grace time is over. */
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == ECHILD) break;
    if (uptime_now() >= deadline) { say("grace over, killing what is left"); break; }
    if (pid <= 0) usleep(20 * 1000);
  }
  kill(-1, SIGKILL);
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
  sync();
  say("halted at uptime %.3f", uptime_now());
  reboot(RB_AUTOBOOT);
  for (;;) pause(); /* reboot() does not return for PID 1; never exit (that panics the kernel) */
}

/* Helper mode for the guest agent (Node has no settimeofday): `init set-time <ms since epoch>`. */
static int helper(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "set-time") == 0) {
    char *end;
    long long ms = strtoll(argv[2], &end, 10);
    if (*end || ms <= 0) { fprintf(stderr, "set-time: bad value\n"); return 2; }
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    if (settimeofday(&tv, NULL) != 0) { perror("settimeofday"); return 1; }
    return 0;
  }
  fprintf(stderr, "usage: init set-time <ms>   (as PID 1 it takes no arguments)\n");
  return 2;
}

int main(int argc, char **argv) {
  init_started_at_uptime = uptime_now();
  if (getpid() != 1) return helper(argc, argv);
  umask(022);

  /* Signals are only ever read from a signalfd: block them all now, children get the original mask. */
  sigset_t all, original;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &original);

  mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  open_console();
  say("started at uptime %.3f", init_started_at_uptime);
  mount_fs("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  read_cmdline();
  set_clock_from_cmdline();

  char disk_buf[64];
  const char *disk = cmdline_get("romulus.disk", disk_buf, sizeof disk_buf);
  int root = switch_to_overlay_root(disk);
  if (root == -2) power_off("cannot mount the VM disk as the root's upper layer");
  if (root != 0) say("overlay root unavailable: running on the read-only base");
  else say("root: overlay of base + %s", disk ? disk : "tmpfs");

  mount_api_filesystems();
  hide_channel_key();
  restrict_dmesg();
  tune_readahead();
  loopback_up();
  set_hostname();
  link_resolv_conf();

  int sfd = signalfd(-1, &all, SFD_CLOEXEC);
  pid_t agent = start_agent(&original);
  if (agent < 0) power_off("fork failed");
  say("guest agent pid %d at uptime %.3f", agent, uptime_now());

  int agent_status = 0, agent_gone = 0;
  struct pollfd pfd = { .fd = sfd, .events = POLLIN };
  for (;;) {
    if (poll(&pfd, 1, -1) < 0 && errno != EINTR) usleep(100 * 1000);
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
      switch (si.ssi_signo) {
        case SIGCHLD:
          reap(agent, &agent_status, &agent_gone);
          break;
        case SIGTERM: case SIGINT: case SIGPWR:
          power_off("signal");
          break;
        case SIGUSR2:
          power_off("the guest agent asked");
          break;
        default:
          break;
      }
      if (agent_gone) {
        char why[96];
        if (WIFEXITED(agent_status)) snprintf(why, sizeof why, "guest agent exited with code %d", WEXITSTATUS(agent_status));
        else snprintf(why, sizeof why, "guest agent killed by signal %d", WTERMSIG(agent_status));
        power_off(why);
      }
      /* signalfd is blocking: read one batch per poll wake-up */
      break;
    }
  }
}
