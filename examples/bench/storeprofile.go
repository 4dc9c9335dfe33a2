package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// storeProfiler, when -profile is set, returns for a sessring store row a
// function that profiles the CPU of this process (the calling node) and of
// the first node process for d, a whole number of seconds, into
// o.profile/store-<row>-{this,node}.pprof; measure calls it for a run of
// concurrent callers apart from the measured one. It returns nil otherwise.
func storeProfiler(o options, c *storeCluster, sc storeCase) func(d time.Duration) (stop func()) {
	if o.profile == "" || !strings.HasPrefix(sc.row.name, "sessring") {
		return nil
	}
	base := filepath.Join(o.profile, "store-"+strings.NewReplacer(" ", "-", ",", "", ":", "", "(", "", ")", "").Replace(sc.row.name))
	return func(d time.Duration) func() {
		f, err := os.Create(base + "-this.pprof")
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				f.Close()
				f = nil
			}
		}
		if err != nil {
			progress("  profile: %v", err)
		}
		node := make(chan error, 1)
		go func() {
			body, err := c.apps[0].get(fmt.Sprintf("/_profile?seconds=%d", max(1, int(d.Round(time.Second)/time.Second))))
			if err == nil {
				err = os.WriteFile(base+"-node.pprof", []byte(body), 0o644)
			}
			node <- err
		}()
		return func() {
			if f != nil {
				pprof.StopCPUProfile()
				f.Close()
			}
			if err := <-node; err != nil {
				progress("  profile of the node process: %v", err)
			}
		}
	}
}
