/*
 * mmsim crosscheck: a FUSE server whose READ and WRITE replies can be delayed or hung.
 *
 * Built statically against libfuse3 (libfuse3.a, high-level API, FUSE_USE_VERSION 31) and run
 * inside the guest's initramfs. It serves two files:
 *   /w  writable, starts empty; the content is discarded, only the size is kept
 *   /r  read-only, R_SIZE bytes of a deterministic pattern
 *
 * Control (polled every 10 ms, so a change takes effect while a reply is being held):
 *   $MMSIM_CTL/write_delay_ms  decimal; every WRITE reply waits this long (re-read while
 *                              waiting, so writing 0 releases held replies). Env
 *                              MMSIM_WRITE_DELAY_MS is the value while the file is absent.
 *   $MMSIM_CTL/read_hang       while this file exists, every READ reply is held. Env
 *                              MMSIM_READ_HANG=1 creates it at start.
 * Statistics are rewritten to $MMSIM_CTL/stats on every change:
 *   "reads_pending N\nread_bytes_pending N\nwrites_pending N\nwrites_done N\nwrite_bytes N\n"
 * MMSIM_CTL defaults to /run/fusectl.
 *
 * The writeback cache is requested (FUSE_CAP_WRITEBACK_CACHE) so buffered writes go through the
 * page cache and reach the server from the kernel's writeback (fuse_writepages).
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define R_SIZE (16L << 20)

static const char *ctl_dir = "/run/fusectl";
static long env_write_delay_ms;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static long reads_pending, read_bytes_pending, writes_pending, writes_done, write_bytes;
static off_t w_size;

static void ctl_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", ctl_dir, name);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Called with stats_lock held. */
static void write_stats(void)
{
	char path[256], tmp[272], text[256];
	ctl_path(path, sizeof(path), "stats");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int n = snprintf(text, sizeof(text),
			 "reads_pending %ld\nread_bytes_pending %ld\nwrites_pending %ld\n"
			 "writes_done %ld\nwrite_bytes %ld\n",
			 reads_pending, read_bytes_pending, writes_pending, writes_done, write_bytes);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, n) != n) {
		close(fd);
		return;
	}
	close(fd);
	rename(tmp, path);
}

static long current_write_delay_ms(void)
{
	char path[256], buf[32];
	ctl_path(path, sizeof(path), "write_delay_ms");
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return env_write_delay_ms;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return env_write_delay_ms;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

static int read_hung(void)
{
	char path[256];
	ctl_path(path, sizeof(path), "read_hang");
	return access(path, F_OK) == 0;
}

static void *srv_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	if (conn->capable & FUSE_CAP_WRITEBACK_CACHE)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	cfg->kernel_cache = 1;
	cfg->attr_timeout = 3600;
	cfg->entry_timeout = 3600;
	cfg->negative_timeout = 3600;
	cfg->direct_io = 0;
	return NULL;
}

static int srv_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (strcmp(path, "/r") == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = R_SIZE;
	} else if (strcmp(path, "/w") == 0) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		pthread_mutex_lock(&stats_lock);
		st->st_size = w_size;
		pthread_mutex_unlock(&stats_lock);
	} else {
		return -ENOENT;
	}
	return 0;
}

static int srv_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "r", NULL, 0, 0);
	fill(buf, "w", NULL, 0, 0);
	return 0;
}

static int srv_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/r") == 0)
		return (fi->flags & O_ACCMODE) == O_RDONLY ? 0 : -EACCES;
	if (strcmp(path, "/w") == 0)
		return 0;
	return -ENOENT;
}

static int srv_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)fi;
	if (strcmp(path, "/w") != 0)
		return -EACCES;
	pthread_mutex_lock(&stats_lock);
	w_size = size;
	pthread_mutex_unlock(&stats_lock);
	return 0;
}

static int srv_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	off_t file_size;
	if (strcmp(path, "/r") == 0) {
		file_size = R_SIZE;
	} else if (strcmp(path, "/w") == 0) {
		pthread_mutex_lock(&stats_lock);
		file_size = w_size;
		pthread_mutex_unlock(&stats_lock);
	} else {
		return -ENOENT;
	}
	if (read_hung()) {
		pthread_mutex_lock(&stats_lock);
		reads_pending++;
		read_bytes_pending += size;
		write_stats();
		pthread_mutex_unlock(&stats_lock);
		while (read_hung())
			sleep_ms(10);
		pthread_mutex_lock(&stats_lock);
		reads_pending--;
		read_bytes_pending -= size;
		write_stats();
		pthread_mutex_unlock(&stats_lock);
	}
	if (off >= file_size)
		return 0;
	if ((off_t)size > file_size - off)
		size = file_size - off;
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)((off + i) * 131 >> 8);
	return (int)size;
}

static int srv_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)buf;
	(void)fi;
	if (strcmp(path, "/w") != 0)
		return -EACCES;
	pthread_mutex_lock(&stats_lock);
	writes_pending++;
	write_stats();
	pthread_mutex_unlock(&stats_lock);
	long start = now_ms();
	while (now_ms() - start < current_write_delay_ms())
		sleep_ms(10);
	pthread_mutex_lock(&stats_lock);
	writes_pending--;
	writes_done++;
	write_bytes += size;
	if (off + (off_t)size > w_size)
		w_size = off + size;
	write_stats();
	pthread_mutex_unlock(&stats_lock);
	return (int)size;
}

static int srv_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;
}

static int srv_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	(void)fi;
	return 0;
}

static const struct fuse_operations ops = {
	.init = srv_init,
	.getattr = srv_getattr,
	.readdir = srv_readdir,
	.open = srv_open,
	.truncate = srv_truncate,
	.read = srv_read,
	.write = srv_write,
	.flush = srv_flush,
	.fsync = srv_fsync,
};

int main(int argc, char *argv[])
{
	const char *env;
	if ((env = getenv("MMSIM_CTL")) != NULL && *env)
		ctl_dir = env;
	if ((env = getenv("MMSIM_WRITE_DELAY_MS")) != NULL)
		env_write_delay_ms = strtol(env, NULL, 10);
	mkdir(ctl_dir, 0755);
	if ((env = getenv("MMSIM_READ_HANG")) != NULL && strcmp(env, "1") == 0) {
		char path[256];
		ctl_path(path, sizeof(path), "read_hang");
		close(open(path, O_WRONLY | O_CREAT, 0644));
	}
	pthread_mutex_lock(&stats_lock);
	write_stats();
	pthread_mutex_unlock(&stats_lock);
	return fuse_main(argc, argv, &ops, NULL);
}
