/*
 * mmsim crosscheck: the in-guest test driver (static). One subcommand per experiment; each
 * prints exactly one result line "MMSIM {json}" on stdout (a single write(2)), plus
 * "MMSIM {"event":"log",...}" progress lines.
 *
 *   driver writeback <fuse-mnt> <ctl-dir>   experiment a: which meminfo counter holds FUSE pages
 *                                           under writeback while WRITE replies are delayed
 *   driver hungread  <fuse-mnt> <ctl-dir>   experiment b: does compaction move (or block on)
 *                                           locked !uptodate pages of a FUSE file whose READs hang
 *   driver split     <tmpfs-huge-mnt>       experiment c: folio sizes after splitting a 2 MiB
 *                                           tmpfs THP at page 5 via debugfs split_huge_pages
 *
 * Page frames: the hung readahead pages are not mapped, so they are found by scanning all of
 * /proc/kpageflags for frames that are locked and not uptodate (not slab, buddy or anon) before
 * and after compaction; the THP's frames come from /proc/self/pagemap of a shared mapping, and
 * its folio boundaries from the kpageflags compound head/tail bits (bits as in
 * include/uapi/linux/kernel-page-flags.h). Compaction tracepoints (mm_compaction_*) show whether
 * the migrate scanner reached the hung frames.
 *
 * Environment (from the kernel command line): MMSIM_FRAGMENT=0 skips arranging memory before
 * compaction (see run_hungread); MMSIM_DEBUG=1 prints /proc/pagetypeinfo and a per-pageblock
 * census before compaction.
 *
 * The driver never exits or closes a FUSE file while the server is holding replies
 * (fuse_flush would wait): it releases the server through the control directory first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* include/uapi/linux/kernel-page-flags.h */
#define KPF_LOCKED 0
#define KPF_UPTODATE 3
#define KPF_DIRTY 4
#define KPF_LRU 5
#define KPF_SLAB 7
#define KPF_WRITEBACK 8
#define KPF_BUDDY 10
#define KPF_MMAP 11
#define KPF_ANON 12
#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16
#define KPF_NOPAGE 20
#define KPF_THP 22
#define BIT(n) (1ULL << (n))

#define PAGE 4096L

/* ---- output ------------------------------------------------------------------------------ */

static char out[65536];
static size_t out_len;

static void o(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + out_len, sizeof(out) - out_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_len += (size_t)n < sizeof(out) - out_len ? (size_t)n : sizeof(out) - out_len - 1;
}

static void emit(void)
{
	o("\n");
	size_t off = 0;
	while (off < out_len) {
		ssize_t n = write(1, out + off, out_len - off);
		if (n <= 0)
			break;
		off += n;
	}
	out_len = 0;
}

static void logf_(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '"' || *p == '\\' || *p < ' ')
			*p = '\'';
	o("MMSIM {\"event\":\"log\",\"msg\":\"%s\"}", msg);
	emit();
}

/* ---- helpers ----------------------------------------------------------------------------- */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	ssize_t n = 0, r;
	while (n < (ssize_t)len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return (int)n;
}

/* Copies text into a JSON string literal body (quotes and control characters replaced). */
static void o_str(const char *s)
{
	o("\"");
	for (; *s; s++)
		o("%c", (*s == '"' || *s == '\\') ? '\'' : (*s == '\n' ? '|' : (*s < ' ' ? ' ' : *s)));
	o("\"");
}

static void kernel_version(int *major, int *minor)
{
	struct utsname u;
	uname(&u);
	*major = 0;
	*minor = 0;
	sscanf(u.release, "%d.%d", major, minor);
}

static long meminfo_kb(const char *key)
{
	static char buf[8192];
	if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return -1;
	size_t klen = strlen(key);
	for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return strtol(p + klen + 1, NULL, 10);
	}
	return -1;
}

static long stat_value(const char *ctl, const char *key)
{
	char path[256], buf[512];
	snprintf(path, sizeof(path), "%s/stats", ctl);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	size_t klen = strlen(key);
	for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return strtol(p + klen + 1, NULL, 10);
	}
	return -1;
}

/* Reads all of /proc/kpageflags; returns the number of frames, *flags malloc'd. */
static long kpageflags_all(uint64_t **flags)
{
	int fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0)
		return -errno;
	size_t cap = 1 << 16, n = 0;
	uint64_t *buf = malloc(cap * 8);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap * 8);
		}
		ssize_t r = pread(fd, buf + n, (cap - n) * 8, (off_t)n * 8);
		if (r <= 0)
			break;
		n += r / 8;
	}
	close(fd);
	*flags = buf;
	return (long)n;
}

static uint64_t kpageflags_one(int fd, uint64_t pfn)
{
	uint64_t v = 0;
	if (pread(fd, &v, 8, (off_t)(pfn * 8)) != 8)
		return BIT(KPF_NOPAGE);
	return v;
}

/* PFN of a mapped virtual address through /proc/self/pagemap, or -1 if not present. */
static long long pagemap_pfn(int fd, void *addr)
{
	uint64_t e = 0;
	off_t off = (off_t)((uintptr_t)addr / PAGE) * 8;
	if (pread(fd, &e, 8, off) != 8)
		return -1;
	if (!(e & BIT(63)))
		return -1;
	return (long long)(e & ((1ULL << 55) - 1));
}

/* Waits for pid up to timeout_ms; returns 1 if it exited (status stored), 0 if still running. */
static int wait_timeout(pid_t pid, long timeout_ms, int *status)
{
	long start = now_ms();
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0)
			return 1;
		if (now_ms() - start >= timeout_ms)
			return 0;
		sleep_ms(10);
	}
}

/* ---- experiment a: FUSE writeback counters ----------------------------------------------- */

static int run_writeback(const char *mnt, const char *ctl)
{
	const long bytes = 4L << 20, delay_ms = 5000;
	char path[512], bdi[256], buf[64];
	struct stat st;
	int major, minor;
	kernel_version(&major, &minor);

	if (stat(mnt, &st) < 0) {
		logf_("stat %s: %s", mnt, strerror(errno));
		return 1;
	}
	/* The FUSE bdi is named after the superblock's device number (fuse_bdi_init). */
	snprintf(bdi, sizeof(bdi), "%u:%u", major(st.st_dev), minor(st.st_dev));
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/max_ratio", bdi);
	char old_ratio[32] = "?";
	read_file(path, old_ratio, sizeof(old_ratio));
	int ratio_err = write_file(path, "100");
	char new_ratio[32] = "?";
	read_file(path, new_ratio, sizeof(new_ratio));
	char strict[32] = "n/a";
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/strict_limit", bdi);
	read_file(path, strict, sizeof(strict));

	snprintf(path, sizeof(path), "%s/write_delay_ms", ctl);
	snprintf(buf, sizeof(buf), "%ld", delay_ms);
	write_file(path, buf);

	snprintf(path, sizeof(path), "%s/w", mnt);
	int fd = open(path, O_RDWR);
	if (fd < 0) {
		logf_("open %s: %s", path, strerror(errno));
		return 1;
	}
	char *data = malloc(1 << 20);
	memset(data, 0x5a, 1 << 20);
	long t0 = now_ms();
	for (long done = 0; done < bytes; done += 1 << 20) {
		if (write(fd, data, 1 << 20) != 1 << 20) {
			logf_("write: %s", strerror(errno));
			break;
		}
	}
	long write_ms = now_ms() - t0;
	long dirty_after_write = meminfo_kb("Dirty");

	/* Start writeback in a child: sync_file_range(SYNC_FILE_RANGE_WRITE) only submits. The
	 * child's exit runs fuse_flush, which waits for the delayed writes; that is a finite wait. */
	long t_sync = now_ms();
	pid_t child = fork();
	if (child == 0) {
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		_exit(0);
	}

	long peak_wb = 0, peak_tmp = 0, peak_dirty = 0, sync_ms = -1;
	int nsamples = 0;
	o("MMSIM {\"event\":\"result\",\"test\":\"writeback\",\"samples\":[");
	for (long t = now_ms(); now_ms() - t < 4000;) {
		long wb = meminfo_kb("Writeback"), tmp = meminfo_kb("WritebackTmp"),
		     dirty = meminfo_kb("Dirty");
		if (wb > peak_wb)
			peak_wb = wb;
		if (tmp > peak_tmp)
			peak_tmp = tmp;
		if (dirty > peak_dirty)
			peak_dirty = dirty;
		if (nsamples < 40)
			o("%s[%ld,%ld,%ld,%ld]", nsamples ? "," : "", now_ms() - t_sync, dirty, wb,
			  tmp);
		nsamples++;
		int status;
		if (sync_ms < 0 && waitpid(child, &status, WNOHANG) == child)
			sync_ms = now_ms() - t_sync;
		sleep_ms(100);
	}
	long writes_pending = stat_value(ctl, "writes_pending");
	long writes_done_before_release = stat_value(ctl, "writes_done");

	/* Release the delayed replies, then wait for the child and sync. */
	snprintf(path, sizeof(path), "%s/write_delay_ms", ctl);
	write_file(path, "0");
	int status;
	long t_rel = now_ms();
	int child_exited = sync_ms >= 0 || wait_timeout(child, 30000, &status);
	if (sync_ms < 0 && child_exited)
		sync_ms = now_ms() - t_sync;
	int fsync_ret = fsync(fd);
	long release_ms = now_ms() - t_rel;
	close(fd);

	o("],\"sampleColumns\":[\"ms\",\"Dirty_kB\",\"Writeback_kB\",\"WritebackTmp_kB\"]");
	o(",\"bytes\":%ld,\"writeDelayMs\":%ld,\"bdi\":\"%s\",\"maxRatioBefore\":", bytes, delay_ms,
	  bdi);
	o_str(old_ratio);
	o(",\"maxRatioAfter\":");
	o_str(new_ratio);
	o(",\"maxRatioWriteErr\":%d,\"strictLimit\":", ratio_err);
	o_str(strict);
	o(",\"writeMs\":%ld,\"dirtyKbAfterWrite\":%ld,\"syncFileRangeMs\":%ld", write_ms,
	  dirty_after_write, sync_ms);
	o(",\"peakKb\":{\"Dirty\":%ld,\"Writeback\":%ld,\"WritebackTmp\":%ld}", peak_dirty, peak_wb,
	  peak_tmp);
	o(",\"serverWritesPending\":%ld,\"serverWritesDoneBeforeRelease\":%ld", writes_pending,
	  writes_done_before_release);
	o(",\"releaseMs\":%ld,\"fsync\":%d,\"serverWriteBytes\":%ld}", release_ms, fsync_ret,
	  stat_value(ctl, "write_bytes"));
	emit();
	return 0;
}

/* ---- experiment b: compaction vs. hung reads --------------------------------------------- */

#define HUNG_MASK (BIT(KPF_LOCKED) | BIT(KPF_UPTODATE) | BIT(KPF_SLAB) | BIT(KPF_BUDDY) | \
		   BIT(KPF_ANON) | BIT(KPF_NOPAGE))

/* Frames that are locked and not uptodate (page cache waiting for a read). */
static long hung_frames(uint64_t **pfns, long *nframes)
{
	uint64_t *flags = NULL;
	long n = kpageflags_all(&flags);
	if (n < 0)
		return n;
	long count = 0;
	uint64_t *list = malloc(sizeof(uint64_t) * 4096);
	for (long i = 0; i < n; i++) {
		if ((flags[i] & HUNG_MASK) == BIT(KPF_LOCKED) && count < 4096)
			list[count++] = (uint64_t)i;
	}
	free(flags);
	*pfns = list;
	*nframes = n;
	return count;
}

static int contains(const uint64_t *a, long n, uint64_t v)
{
	for (long i = 0; i < n; i++)
		if (a[i] == v)
			return 1;
	return 0;
}

static void o_pfns(const uint64_t *a, long n, long max)
{
	o("[");
	for (long i = 0; i < n && i < max; i++)
		o("%s%llu", i ? "," : "", (unsigned long long)a[i]);
	o("]");
}

#define VMSTAT_COMPACT_N 7
static const char *const vmstat_compact_names[VMSTAT_COMPACT_N] = {
	"compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
	"pgmigrate_success", "pgmigrate_fail", "compact_stall", "compact_success",
};
struct vmstat_compact {
	long long v[VMSTAT_COMPACT_N];
};

/* The compaction and migration counters of /proc/vmstat (mm/vmstat.c vmstat_text). */
static void vmstat_compact_read(struct vmstat_compact *vs)
{
	static char buf[16384];
	memset(vs, 0, sizeof(*vs));
	if (read_file("/proc/vmstat", buf, sizeof(buf)) < 0)
		return;
	for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		for (int i = 0; i < VMSTAT_COMPACT_N; i++) {
			size_t len = strlen(vmstat_compact_names[i]);
			if (strncmp(p, vmstat_compact_names[i], len) == 0 && p[len] == ' ')
				vs->v[i] = strtoll(p + len + 1, NULL, 10);
		}
	}
}

/* Compaction tracepoints (include/trace/events/compaction.h), if tracefs is mounted. */
static const char *tracefs(void)
{
	if (access("/sys/kernel/tracing/trace", F_OK) == 0)
		return "/sys/kernel/tracing";
	if (access("/sys/kernel/debug/tracing/trace", F_OK) == 0)
		return "/sys/kernel/debug/tracing";
	return NULL;
}

static int trace_compaction(int on)
{
	const char *t = tracefs();
	static const char *const events[] = { "mm_compaction_isolate_migratepages",
					      "mm_compaction_end" };
	char path[256];
	if (!t)
		return 0;
	if (on) {
		snprintf(path, sizeof(path), "%s/trace", t);
		write_file(path, "");
		snprintf(path, sizeof(path), "%s/buffer_size_kb", t);
		write_file(path, "4096");
	}
	int ok = 1;
	for (unsigned i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		snprintf(path, sizeof(path), "%s/events/compaction/%s/enable", t, events[i]);
		if (write_file(path, on ? "1" : "0") != 0)
			ok = 0;
	}
	return ok;
}

/* What the compaction trace says about the hung frames. */
struct trace_info {
	int available;
	long lines;
	int covered;       /* isolate_migratepages ranges that covered a hung frame */
	int covered_taken; /* ... and isolated something */
	int nends;
	char ends[8][256]; /* mm_compaction_end lines: where the scanners stopped */
};

static void trace_parse(const uint64_t *hung, long nhung, struct trace_info *ti)
{
	const char *t = tracefs();
	char path[256], line[1024];
	memset(ti, 0, sizeof(*ti));
	if (!t)
		return;
	ti->available = 1;
	snprintf(path, sizeof(path), "%s/trace", t);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		ti->lines++;
		char *p;
		if ((p = strstr(line, "mm_compaction_isolate_migratepages:")) != NULL) {
			unsigned long a = 0, b = 0, scanned = 0, taken = 0;
			char *r = strstr(p, "range=(");
			if (r && sscanf(r, "range=(0x%lx ~ 0x%lx) nr_scanned=%lu nr_taken=%lu", &a, &b,
					&scanned, &taken) >= 2) {
				for (long i = 0; i < nhung; i++) {
					if (hung[i] >= a && hung[i] < b) {
						ti->covered++;
						if (taken)
							ti->covered_taken++;
						break;
					}
				}
			}
		} else if ((p = strstr(line, "mm_compaction_end:")) != NULL && ti->nends < 8) {
			p += strlen("mm_compaction_end:");
			while (*p == ' ')
				p++;
			snprintf(ti->ends[ti->nends++], sizeof(ti->ends[0]), "%s", p);
		}
	}
	if (f)
		fclose(f);
}

static void o_trace(const struct trace_info *ti)
{
	o(",\"trace\":{\"available\":%s,\"ends\":[", ti->available ? "true" : "false");
	for (int i = 0; i < ti->nends; i++) {
		o("%s", i ? "," : "");
		o_str(ti->ends[i]);
	}
	o("],\"lines\":%ld,\"isolateRangesOverHung\":%d,\"isolateRangesOverHungTaken\":%d}",
	  ti->lines, ti->covered, ti->covered_taken);
}

static long compact_once_ms(long timeout_ms, pid_t *still_running)
{
	long t = now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		int err = write_file("/proc/sys/vm/compact_memory", "1");
		_exit(err ? 1 : 0);
	}
	int status;
	if (wait_timeout(pid, timeout_ms, &status)) {
		*still_running = 0;
		return now_ms() - t;
	}
	*still_running = pid;
	return -1;
}

static int run_hungread(const char *mnt, const char *ctl)
{
	char path[512], hang[512];
	snprintf(hang, sizeof(hang), "%s/read_hang", ctl);
	snprintf(path, sizeof(path), "%s/r", mnt);

	uint64_t *base;
	long nframes;
	long nbase = hung_frames(&base, &nframes);
	logf_("%ld frames locked and not uptodate before the read, of %ld", nbase, nframes);

	write_file(hang, "1");
	int ready[2];
	if (pipe(ready) < 0)
		return 1;
	pid_t reader = fork();
	if (reader == 0) {
		close(ready[0]);
		int fd = open(path, O_RDONLY);
		char *buf = malloc(256 << 10);
		long t = now_ms();
		ssize_t n = fd < 0 ? -1 : read(fd, buf, 256 << 10);
		char msg[96];
		int len = snprintf(msg, sizeof(msg), "%zd %ld", n, now_ms() - t);
		if (write(ready[1], msg, len) < 0)
			_exit(2);
		/* fd is closed by exit only after the read returned, i.e. after the release. */
		_exit(n < 0 ? 1 : 0);
	}
	close(ready[1]);

	/* Wait until the server holds READs and the set of hung frames is stable. */
	uint64_t *before = NULL;
	long nbefore = 0, stable_since = now_ms(), t0 = now_ms();
	for (;;) {
		uint64_t *cur;
		long ncur = hung_frames(&cur, &nframes);
		if (ncur != nbefore) {
			stable_since = now_ms();
		}
		free(before);
		before = cur;
		nbefore = ncur;
		if (stat_value(ctl, "reads_pending") > 0 && nbefore > nbase &&
		    now_ms() - stable_since >= 300)
			break;
		if (now_ms() - t0 > 10000)
			break;
		sleep_ms(50);
	}
	/* Drop frames that were already locked before the read started. */
	long k = 0;
	for (long i = 0; i < nbefore; i++)
		if (!contains(base, nbase, before[i]))
			before[k++] = before[i];
	nbefore = k;
	long reads_pending = stat_value(ctl, "reads_pending");
	long read_bytes_pending = stat_value(ctl, "read_bytes_pending");
	int kfd = open("/proc/kpageflags", O_RDONLY);
	long lru = 0;
	for (long i = 0; i < nbefore; i++)
		if (kpageflags_one(kfd, before[i]) & BIT(KPF_LRU))
			lru++;
	logf_("%ld hung frames (%ld on LRU); server holds %ld READs, %ld bytes", nbefore, lru,
	      reads_pending, read_bytes_pending);

	/*
	 * Arrange memory so that compaction's migrate scanner reaches the hung frames. It starts
	 * at the zone's first frame and stops where it meets the free scanner, which comes down
	 * from the top and takes free pages only from pageblocks that are not entirely free
	 * (mm/compaction.c suitable_migration_target). On an idle guest the scanners meet just
	 * above the boot-time allocations, so whether the hung frames are reached depends on
	 * where readahead put them. So: fill free memory with anonymous pages, then release all
	 * of them below the lowest hung frame and every other one above it: little to migrate
	 * below, free room in every pageblock above, so the migrate scanner reaches the lowest
	 * hung frame before the scanners meet. Off with MMSIM_FRAGMENT=0.
	 */
	const char *frag_env = getenv("MMSIM_FRAGMENT");
	int fragment = !(frag_env && strcmp(frag_env, "0") == 0) && nbefore > 0;
	long frag_bytes = 0, freed_below = 0, freed_above = 0, kept = 0;
	char *frag = NULL;
	char pcp_old[32] = "";
	if (fragment) {
		/*
		 * Freed pages wait on the per-cpu lists, where the free scanner cannot see them;
		 * since v6.7 pcp->high grows while a CPU frees a lot (pcp high auto-tuning) and
		 * thousands of pages can sit there. A huge percpu_pagelist_high_fraction makes
		 * zone_highsize() fall back to its floor (batch << 2), so the frees below reach the
		 * buddy lists. Restored after the experiment.
		 */
		read_file("/proc/sys/vm/percpu_pagelist_high_fraction", pcp_old, sizeof(pcp_old));
		write_file("/proc/sys/vm/percpu_pagelist_high_fraction", "1000000");
		uint64_t hmin = before[0];
		for (long i = 1; i < nbefore; i++)
			if (before[i] < hmin)
				hmin = before[i];
		long free_b = meminfo_kb("MemFree") * 1024L;
		long margin = free_b / 100 * 15 > (48L << 20) ? free_b / 100 * 15 : (48L << 20);
		frag_bytes = (free_b - margin) / PAGE * PAGE;
		frag = frag_bytes > 0 ? mmap(NULL, frag_bytes, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
				      : MAP_FAILED;
		if (frag == MAP_FAILED) {
			frag = NULL;
			frag_bytes = 0;
		} else {
			madvise(frag, frag_bytes, MADV_NOHUGEPAGE);
			for (long off = 0; off < frag_bytes; off += PAGE)
				frag[off] = 1;
			long npages = frag_bytes / PAGE;
			uint64_t *pm = malloc(npages * 8);
			int pmfd = open("/proc/self/pagemap", O_RDONLY);
			ssize_t got = pmfd < 0 ? -1
					       : pread(pmfd, pm, npages * 8,
						       (off_t)((uintptr_t)frag / PAGE) * 8);
			if (pmfd >= 0)
				close(pmfd);
			long run_start = -1, above = 0;
			for (long i = 0; i <= npages; i++) {
				int release = 0;
				if (i < npages && got == npages * 8 && (pm[i] & BIT(63))) {
					uint64_t pfn = pm[i] & ((1ULL << 55) - 1);
					if (pfn < hmin) {
						release = 1;
						freed_below++;
					} else if (pfn > hmin && (above++ & 1)) {
						release = 1;
						freed_above++;
					} else {
						kept++;
					}
				}
				if (release && run_start < 0)
					run_start = i;
				if (!release && run_start >= 0) {
					madvise(frag + run_start * PAGE, (i - run_start) * PAGE,
						MADV_DONTNEED);
					run_start = -1;
				}
			}
			free(pm);
		}
		logf_("fragment: %ld bytes; released %ld pages below the lowest hung frame, %ld above, kept %ld",
		      frag_bytes, freed_below, freed_above, kept);
	}

	if (getenv("MMSIM_DEBUG")) {
		static char dbg[16384];
		read_file("/proc/pagetypeinfo", dbg, sizeof(dbg));
		printf("%s\n", dbg);
		uint64_t *fl;
		long nf = kpageflags_all(&fl);
		for (long b = 0; b < nf; b += 512) {
			int anon = 0, lru = 0, buddy = 0, nopage = 0, slab = 0;
			for (long i = b; i < b + 512 && i < nf; i++) {
				anon += !!(fl[i] & BIT(KPF_ANON));
				lru += !!(fl[i] & BIT(KPF_LRU));
				buddy += !!(fl[i] & BIT(KPF_BUDDY));
				nopage += !!(fl[i] & BIT(KPF_NOPAGE));
				slab += !!(fl[i] & BIT(KPF_SLAB));
			}
			printf("pb %ld anon %d lru %d buddyheads %d slab %d nopage %d\n", b / 512, anon, lru, buddy, slab, nopage);
		}
		fflush(stdout);
	}

	/* Compaction while the READs hang, in a child with a timeout. */
	/* An unblocked compaction of the fragmented guest takes well under a second. */
	const long timeout_ms = 8000;
	pid_t compactor = 0;
	struct vmstat_compact vs0, vs1;
	vmstat_compact_read(&vs0);
	int traced = trace_compaction(1);
	/*
	 * If a pass completes without its migrate scanner reaching a hung frame (the trace shows
	 * no isolation over them), run another: up to three passes.
	 */
	struct trace_info ti;
	long compact_ms = -1;
	int passes = 0;
	do {
		passes++;
		compact_ms = compact_once_ms(timeout_ms, &compactor);
		trace_parse(before, nbefore, &ti);
	} while (compactor == 0 && traced && ti.covered_taken == 0 && passes < 3);
	vmstat_compact_read(&vs1);
	int blocked = compactor != 0;
	char wchan[128] = "", stack[2048] = "";
	if (blocked) {
		snprintf(path, sizeof(path), "/proc/%d/wchan", compactor);
		read_file(path, wchan, sizeof(wchan));
		snprintf(path, sizeof(path), "/proc/%d/stack", compactor);
		read_file(path, stack, sizeof(stack));
	}
	/* Frames after compaction ran (or while it is still blocked), reads still hung. */
	uint64_t *after;
	long nafter = hung_frames(&after, &nframes);
	k = 0;
	for (long i = 0; i < nafter; i++)
		if (!contains(base, nbase, after[i]))
			after[k++] = after[i];
	nafter = k;
	long gone = 0, still_hung = 0;
	for (long i = 0; i < nbefore; i++) {
		uint64_t f = kpageflags_one(kfd, before[i]);
		if (!contains(after, nafter, before[i]))
			gone++;
		if ((f & HUNG_MASK) == BIT(KPF_LOCKED))
			still_hung++;
	}
	long appeared = 0;
	for (long i = 0; i < nafter; i++)
		if (!contains(before, nbefore, after[i]))
			appeared++;
	long reads_pending_after = stat_value(ctl, "reads_pending");

	/* Release the READs; never exit while they hang. */
	long t_rel = now_ms();
	unlink(hang);
	int status;
	int reader_done = wait_timeout(reader, 30000, &status);
	long reader_ms = now_ms() - t_rel;
	char rmsg[96] = "";
	ssize_t rn = read(ready[0], rmsg, sizeof(rmsg) - 1);
	if (rn > 0)
		rmsg[rn] = 0;
	long compactor_after_release_ms = -1;
	if (blocked) {
		if (wait_timeout(compactor, 60000, &status))
			compactor_after_release_ms = now_ms() - t_rel;
	}
	close(kfd);
	if (frag)
		munmap(frag, frag_bytes);
	if (pcp_old[0])
		write_file("/proc/sys/vm/percpu_pagelist_high_fraction", pcp_old);
	if (traced)
		trace_compaction(0);

	o("MMSIM {\"event\":\"result\",\"test\":\"hungread\",\"method\":\"kpageflags-scan\"");
	o(",\"frames\":%ld,\"lockedNotUptodateBeforeRead\":%ld", nframes, nbase);
	o(",\"hungFrames\":%ld,\"hungFramesOnLru\":%ld,\"serverReadsPending\":%ld", nbefore, lru,
	  reads_pending);
	o(",\"serverReadBytesPending\":%ld,\"compactTimeoutMs\":%ld", read_bytes_pending,
	  timeout_ms);
	o(",\"fragment\":{\"bytes\":%ld,\"releasedBelow\":%ld,\"releasedAbove\":%ld,\"kept\":%ld}",
	  frag_bytes, freed_below, freed_above, kept);
	o(",\"compactionBlocked\":%s,\"compactMs\":%ld", blocked ? "true" : "false", compact_ms);
	o(",\"compactorWchan\":");
	o_str(wchan);
	o(",\"compactorStack\":");
	o_str(stack);
	o(",\"hungFramesAfter\":%ld,\"framesGone\":%ld,\"framesAppeared\":%ld", nafter, gone,
	  appeared);
	o(",\"beforeStillLockedNotUptodate\":%ld,\"serverReadsPendingAfter\":%ld", still_hung,
	  reads_pending_after);
	o(",\"hungPageMoved\":%s", (gone > 0 || appeared > 0) ? "true" : "false");
	o(",\"readerDone\":%s,\"readerAfterReleaseMs\":%ld,\"reader\":",
	  reader_done ? "true" : "false", reader_ms);
	o_str(rmsg);
	o(",\"vmstatDelta\":{");
	for (int i = 0; i < VMSTAT_COMPACT_N; i++)
		o("%s\"%s\":%lld", i ? "," : "", vmstat_compact_names[i], vs1.v[i] - vs0.v[i]);
	o("}");
	/* Counts from the trace as it stood while the READs hung; ends from the whole run. */
	struct trace_info ti_all;
	trace_parse(before, nbefore, &ti_all);
	memcpy(ti.ends, ti_all.ends, sizeof(ti.ends));
	ti.nends = ti_all.nends;
	o_trace(&ti);
	o(",\"compactionPasses\":%d", passes);
	o(",\"compactorAfterReleaseMs\":%ld,\"pfnsBefore\":", compactor_after_release_ms);
	o_pfns(before, nbefore, 64);
	o(",\"pfnsAfter\":");
	o_pfns(after, nafter, 64);
	o("}");
	emit();
	return 0;
}

/* ---- experiment c: split a tmpfs THP at page 5 ------------------------------------------- */

/* Folio sizes (in pages) of the 512 pages at map, from pagemap + kpageflags head/tail bits. */
static int folio_sizes(void *map, int *sizes, long long *pfns, int *nfolios)
{
	int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
	if (pm < 0 || kf < 0)
		return -errno;
	volatile char sink = 0;
	int n = 0, discontiguous = 0;
	for (int i = 0; i < 512; i++) {
		char *p = (char *)map + i * PAGE;
		sink += *p; /* fault the page in */
		pfns[i] = pagemap_pfn(pm, p);
		uint64_t f = pfns[i] < 0 ? BIT(KPF_NOPAGE) : kpageflags_one(kf, (uint64_t)pfns[i]);
		if ((f & BIT(KPF_COMPOUND_TAIL)) && n > 0) {
			if (pfns[i] != pfns[i - 1] + 1)
				discontiguous++;
			sizes[n - 1]++;
		} else {
			sizes[n++] = 1;
		}
	}
	(void)sink;
	close(pm);
	close(kf);
	*nfolios = n;
	return discontiguous;
}

static void o_ints(const int *a, int n)
{
	o("[");
	for (int i = 0; i < n; i++)
		o("%s%d", i ? "," : "", a[i]);
	o("]");
}

static int run_split(const char *mnt)
{
	const long size = 2L << 20;
	char path[512], arg[640];
	int major, minor;
	kernel_version(&major, &minor);
	snprintf(path, sizeof(path), "%s/thp", mnt);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		logf_("open %s: %s", path, strerror(errno));
		return 1;
	}
	char *data = aligned_alloc(1 << 21, size);
	memset(data, 0x33, size);
	if (write(fd, data, size) != size) {
		logf_("write: %s", strerror(errno));
		return 1;
	}
	static int before[512], after[512];
	static long long pfn_before[512], pfn_after[512];
	int nbefore, nafter;
	void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	int disc_before = folio_sizes(map, before, pfn_before, &nbefore);
	munmap(map, size);

	/*
	 * mm/huge_memory.c split_huge_pages_write(), "<path>,0x<start>,0x<end>[,<new_order>[,
	 * <in_folio_offset>]]": the new_order field came with v6.10, in_folio_offset (non-uniform
	 * folio_split) with v6.15. Older kernels ignore trailing fields (sscanf), so the richest
	 * form they parse is used and the format is reported.
	 */
	const char *format;
	if (major > 6 || (major == 6 && minor >= 15)) {
		snprintf(arg, sizeof(arg), "%s,0x0,0x200,0,5", path);
		format = "path,off_start,off_end,new_order,in_folio_offset";
	} else if (major == 6 && minor >= 10) {
		snprintf(arg, sizeof(arg), "%s,0x0,0x200,0", path);
		format = "path,off_start,off_end,new_order";
	} else {
		snprintf(arg, sizeof(arg), "%s,0x0,0x200", path);
		format = "path,off_start,off_end";
	}
	int sfd = open("/sys/kernel/debug/split_huge_pages", O_WRONLY);
	ssize_t sret = sfd < 0 ? -errno : write(sfd, arg, strlen(arg));
	int serr = sret < 0 ? errno : 0;
	if (sfd >= 0)
		close(sfd);

	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	int disc_after = folio_sizes(map, after, pfn_after, &nafter);
	munmap(map, size);
	int same_pfns = 1;
	for (int i = 0; i < 512; i++)
		if (pfn_before[i] != pfn_after[i])
			same_pfns = 0;
	close(fd);
	unlink(path);

	o("MMSIM {\"event\":\"result\",\"test\":\"split\",\"method\":\"pagemap+kpageflags\"");
	o(",\"arg\":");
	o_str(arg);
	o(",\"argFormat\":\"%s\",\"writeRet\":%zd,\"writeErrno\":%d", format, sret, serr);
	o(",\"foliosBefore\":");
	o_ints(before, nbefore);
	o(",\"foliosAfter\":");
	o_ints(after, nafter);
	o(",\"discontiguousBefore\":%d,\"discontiguousAfter\":%d,\"samePfns\":%s", disc_before,
	  disc_after, same_pfns ? "true" : "false");
	o(",\"firstPfn\":%lld}", pfn_before[0]);
	emit();
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "writeback") == 0)
		return run_writeback(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "hungread") == 0)
		return run_hungread(argv[2], argv[3]);
	if (argc >= 3 && strcmp(argv[1], "split") == 0)
		return run_split(argv[2]);
	fprintf(stderr, "usage: driver writeback|hungread <fuse-mnt> <ctl> | split <tmpfs-mnt>\n");
	return 2;
}
