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
 *   4. with romulus.channel=vsock (Firecracker), listen on vsock port 52 and start the channel relay (below),
 *      then start the guest agent (the bundled Node in /opt/romulus, as root) and reap zombies forever,
 *   5. power off (sync + reboot(RB_AUTOBOOT); QEMU runs with -no-reboot and Firecracker exits on reset)
 *      on SIGTERM/SIGINT/SIGPWR, on SIGUSR2 (the agent asks), or when the agent exits for any reason:
 *      a VM without its agent cannot be controlled, so it must not linger.
 *
 * Everything it says goes to the serial console prefixed "romulus-init: ". It never sees secrets, and it
 * refuses to boot a command line that carries a channel key (romulus.chkey): /proc/cmdline is readable by
 * the workload, so such a key could not be kept from it.
 *
 * The vsock channel relay: Node cannot open AF_VSOCK, so a child of init accepts the host's connections on
 * vsock port 52 and the agent's on the unix socket /run/romulus/channel.sock (in a root-only directory, so
 * the unprivileged workload cannot reach it), and copies bytes between the current host connection and the
 * current agent connection. A newer connection on either side replaces the older one (the host reconnects
 * after a node restart); bytes for a side that is not connected are dropped, as virtio-serial does. Only the
 * host can reach a guest's vsock, so the channel needs no key. `init channel-relay <host-sock> <agent-sock>`
 * runs the same relay with a unix socket in place of the vsock (host tests).
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
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define NODE_BIN "/opt/romulus/node/bin/node"
#define AGENT_JS "/opt/romulus/guest-agent.js"
/* Scratch space in the old (read-only) root: /run exists in every image the builders produce. */
#define SCRATCH "/run"
#define LOWER SCRATCH "/romulus-lower"
#define RW SCRATCH "/romulus-rw"
#define NEWROOT SCRATCH "/romulus-root"
#define CHANNEL_DIR "/run/romulus"
#define CHANNEL_SOCK CHANNEL_DIR "/channel.sock"
/* GUEST_VSOCK_PORT in packages/shared/src/guest-protocol.ts: below 1024, so only root may bind it. */
#define VSOCK_PORT 52
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

/* dmesg echoes the command line and kernel messages: nothing the workload needs. */
static void restrict_dmesg(void) {
  int fd = open("/proc/sys/kernel/dmesg_restrict", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (write(fd, "1", 1) < 0) say("dmesg_restrict: %s", strerror(errno));
    close(fd);
  }
}

/* --- the vsock channel relay (see the top of this file) --------------------------------------------------- */

struct relay_end {
  int listener;     /* accepts this side's connections */
  int conn;         /* the current connection, or -1 */
  char buf[65536];  /* bytes read from this side, not yet written to the other */
  size_t len, off;
};

static void relay_drop(struct relay_end *e) {
  if (e->conn >= 0) close(e->conn);
  e->conn = -1;
  e->len = e->off = 0;
}

static void relay_discard_unread(int fd) {
  char scratch[4096];
  while (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0) {}
}

/* Moves bytes between the two current connections; never returns. */
static void relay_loop(int host_listener, int agent_listener) {
  struct relay_end ends[2] = { { .listener = host_listener, .conn = -1 }, { .listener = agent_listener, .conn = -1 } };
  for (;;) {
    struct pollfd p[4];
    for (int i = 0; i < 2; i++) {
      struct relay_end *e = &ends[i], *o = &ends[1 - i];
      p[i] = (struct pollfd){ .fd = e->listener, .events = POLLIN };
      /* read a side only when its buffer is empty; write it while the other side has bytes for it */
      p[2 + i] = (struct pollfd){ .fd = e->conn, .events = (e->len == 0 ? POLLIN : 0) | (o->len > 0 ? POLLOUT : 0) };
    }
    if (poll(p, 4, -1) < 0) {
      if (errno != EINTR) usleep(100 * 1000);
      continue;
    }
    int replaced = 0;
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      int c = accept4(ends[i].listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) continue;
      relay_drop(&ends[i]);
      ends[1 - i].len = ends[1 - i].off = 0; /* what was queued for the old connection is not for this one */
      /* Nor what the agent said before this host came: it may still sit unread in the agent socket when the
         connect and the agent's bytes reach one poll round (a busy host). The agent answers a new host only
         after that host's first line, so nothing for this host can be among it. */
      if (i == 0 && ends[1].conn >= 0) relay_discard_unread(ends[1].conn);
      ends[i].conn = c;
      replaced = 1;
    }
    if (replaced) continue; /* the conn entries polled may be gone */
    for (int i = 0; i < 2; i++) {
      struct relay_end *e = &ends[i], *o = &ends[1 - i];
      short r = p[2 + i].revents;
      if (e->conn < 0 || !r) continue;
      if (r & POLLIN) {
        ssize_t n = recv(e->conn, e->buf, sizeof e->buf, 0);
        if (n > 0) {
          e->len = (size_t)n;
          e->off = 0;
          if (o->conn < 0) e->len = 0; /* nobody on the other side: dropped */
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          relay_drop(e);
          continue;
        }
      } else if (r & (POLLHUP | POLLERR)) {
        relay_drop(e);
        continue;
      }
      if ((r & POLLOUT) && o->len > 0) {
        ssize_t n = send(e->conn, o->buf + o->off, o->len - o->off, MSG_NOSIGNAL);
        if (n > 0) {
          o->off += (size_t)n;
          if (o->off == o->len) o->len = o->off = 0;
        } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
          relay_drop(e);
        }
      }
    }
  }
}

/* A root-only unix listener at path (its directory is made 0700 first). */
static int listen_unix(const char *path) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof a.sun_path) { errno = ENAMETOOLONG; return -1; }
  strcpy(a.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  unlink(path);
  mode_t old = umask(077);
  int r = bind(fd, (struct sockaddr *)&a, sizeof a);
  umask(old);
  if (r != 0 || listen(fd, 4) != 0) { close(fd); return -1; }
  return fd;
}

static int listen_vsock(unsigned port) {
  struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0) { close(fd); return -1; }
  return fd;
}

/* Forks the relay for the vsock channel; returns its pid, or -1 (reason said). */
static pid_t start_vsock_relay(const sigset_t *original_mask) {
  int host = listen_vsock(VSOCK_PORT);
  if (host < 0) { say("cannot listen on vsock port %d: %s", VSOCK_PORT, strerror(errno)); return -1; }
  if (mkdir(CHANNEL_DIR, 0700) != 0 && errno != EEXIST) { say("mkdir %s: %s", CHANNEL_DIR, strerror(errno)); return -1; }
  chmod(CHANNEL_DIR, 0700);
  int agent = listen_unix(CHANNEL_SOCK);
  if (agent < 0) { say("cannot listen on %s: %s", CHANNEL_SOCK, strerror(errno)); close(host); return -1; }
  pid_t pid = fork();
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, original_mask, NULL); /* SIGTERM at power-off must end it */
    relay_loop(host, agent);
  }
  close(host);
  close(agent);
  return pid;
}

/* --- the agent and power-off -------------------------------------------------------------------------- */

static pid_t start_agent(const sigset_t *original_mask, int vsock) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  sigprocmask(SIG_SETMASK, original_mask, NULL);
  setsid();
  char started[64];
  snprintf(started, sizeof started, "ROMULUS_INIT_STARTED_AT_UPTIME=%.3f", init_started_at_uptime);
  char *envp[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    started,
    vsock ? "ROMULUS_CHANNEL_SOCKET=" CHANNEL_SOCK : NULL,
    NULL,
  };
  char *argv[] = { NODE_BIN, AGENT_JS, NULL };
  execve(NODE_BIN, argv, envp);
  say("cannot start the guest agent (%s): %s", NODE_BIN, strerror(errno));
  _exit(127);
}

static void reap(pid_t agent, pid_t relay, int *agent_status, int *agent_gone, int *relay_gone) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == agent) { *agent_status = status; *agent_gone = 1; }
    if (relay > 0 && pid == relay) *relay_gone = 1;
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
  if (argc == 4 && strcmp(argv[1], "channel-relay") == 0) {
    int host = listen_unix(argv[2]), agent = listen_unix(argv[3]);
    if (host < 0 || agent < 0) { perror("channel-relay: listen"); return 1; }
    signal(SIGPIPE, SIG_IGN);
    relay_loop(host, agent);
  }
  fprintf(stderr, "usage: init set-time <ms> | init channel-relay <host-sock> <agent-sock>   (as PID 1 it takes no arguments)\n");
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
  char chkey[8];
  if (cmdline_get("romulus.chkey", chkey, sizeof chkey))
    power_off("refusing to start: the command line carries a channel key (romulus.chkey), which /proc/cmdline shows the workload");
  restrict_dmesg();
  tune_readahead();
  loopback_up();
  set_hostname();
  link_resolv_conf();

  int sfd = signalfd(-1, &all, SFD_CLOEXEC);
  char channel[16];
  const char *ch = cmdline_get("romulus.channel", channel, sizeof channel) ? channel : "virtio";
  int vsock = strcmp(ch, "vsock") == 0;
  if (!vsock && strcmp(ch, "virtio") != 0) power_off("unknown romulus.channel");
  pid_t relay = vsock ? start_vsock_relay(&original) : 0;
  if (relay < 0) power_off("the vsock channel cannot be served: the VM could not be controlled");
  pid_t agent = start_agent(&original, vsock);
  if (agent < 0) power_off("fork failed");
  say("guest agent pid %d at uptime %.3f (channel %s)", agent, uptime_now(), ch);

  int agent_status = 0, agent_gone = 0, relay_gone = 0;
  struct pollfd pfd = { .fd = sfd, .events = POLLIN };
  for (;;) {
    if (poll(&pfd, 1, -1) < 0 && errno != EINTR) usleep(100 * 1000);
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
      switch (si.ssi_signo) {
        case SIGCHLD:
          reap(agent, relay, &agent_status, &agent_gone, &relay_gone);
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
      if (relay_gone) power_off("the vsock channel relay exited");
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
