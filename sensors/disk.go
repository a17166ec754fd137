package sensors

import (
	"fmt"
	"syscall"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// statfs is syscall.Statfs; tests replace it.
var statfs = syscall.Statfs

// addDisk adds the usage of the file system holding path: "disk_used" as
// df counts it (used / (used + available to users)) and "disk_free", the
// MiB available to unprivileged users.
func addDisk(path string, r *reading.Reading) error {
	var st syscall.Statfs_t
	if err := statfs(path, &st); err != nil {
		return fmt.Errorf("sensors: host: statfs %s: %w", path, err)
	}
	bsize := uint64(st.Bsize)
	used := (st.Blocks - st.Bfree) * bsize
	avail := st.Bavail * bsize
	if used+avail == 0 {
		return fmt.Errorf("sensors: host: statfs %s: empty file system", path)
	}
	// milli-percent, rounded; in KiB first so that huge disks cannot overflow.
	usedK, availK := used/1024, avail/1024
	pct := int64((usedK*100_000 + (usedK+availK)/2) / max(usedK+availK, 1))
	if err := r.Add("disk_used", reading.Percent, pct); err != nil {
		return err
	}
	return r.Add("disk_free", reading.Mebibytes, int64((availK*1000+512)/1024))
}
