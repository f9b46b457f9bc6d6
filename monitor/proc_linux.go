package monitor

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// procStatus returns the resident memory (from /proc/self/statm) and the
// number of open file descriptors (from /proc/self/fd, -1 when unknown).
// Linux 6.2 and later report the count as the directory's size, which
// costs one stat however many files are open; older kernels report 0 and
// the directory is read instead.
func procStatus() (rss uint64, fds int) {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				rss = pages * uint64(os.Getpagesize())
			}
		}
	}
	if fi, err := os.Stat("/proc/self/fd"); err == nil && fi.Size() > 0 {
		return rss, int(fi.Size())
	}
	fds = -1
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, err := d.Readdirnames(-1)
		d.Close()
		if err == nil {
			fds = len(names) - 1 // less the descriptor that read the directory
		}
	}
	return rss, fds
}

// memoryLimitFiles lists the files holding the memory limits of this
// process's cgroup and of its ancestors: memory.max under cgroup v2,
// memory.limit_in_bytes under v1. Inside a container whose cgroup is
// mounted at the root, the root's file is the container's limit.
func memoryLimitFiles() []string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var files []string
	add := func(root, rel, name string) {
		for dir := filepath.Join(root, filepath.Clean("/"+rel)); strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				files = append(files, filepath.Join(dir, name))
			}
			if dir == root {
				break
			}
		}
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		// hierarchy-id:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			add(cgroupRoot, parts[2], "memory.max")
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			add(filepath.Join(cgroupRoot, "memory"), parts[2], "memory.limit_in_bytes")
		}
	}
	return files
}

// memoryLimit returns the memory available to the process: the lowest
// limit in files, capped by the machine's memory (MemTotal); 0 when
// neither is known.
func memoryLimit(files []string) uint64 {
	limit := memTotal()
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64); err == nil && (limit == 0 || n < limit) {
			limit = n
		}
	}
	return limit
}

// memTotal reads MemTotal from /proc/meminfo; 0 when unknown.
func memTotal() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			kb, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
