package proc_test

import (
	"fmt"
	"log"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/proc"
)

func ExampleStart() {
	// This test binary plays the node (see TestMain): it prints
	// "READY <addr>" once it serves and leaves when its stdin closes.
	cmd, err := proc.Self(modeEnv + "=ready")
	if err != nil {
		log.Fatal(err)
	}
	var addr string
	c, err := proc.Start(cmd, 30*time.Second, proc.Expect("READY", &addr))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("node ready at", addr)
	c.Kill() // the crash: no handover, no goodbye
	fmt.Println("exited:", c.Exited())
	// Output:
	// node ready at 127.0.0.1:1
	// exited: true
}
