// Command cluster shows a sessring cluster surviving a crash, in one
// command:
//
//	go run ./examples/cluster
//
// It starts three nodes of the demo app (examples/internal/demo), each a
// child process with its own store.Node, middleware.Manager and HTTP server
// on 127.0.0.1, and a round-robin load balancer on http://127.0.0.1:8080.
// Open that page, press Increment a few times, then "Crash": the node that
// served the page is killed with SIGKILL. Refresh: another node answers,
// with the same session and the same count. "start" brings the node back
// under its old name and addresses; it rejoins and pulls its share back.
//
// Why child processes: a node in this process could only be stopped with
// store.Node.Close, which hands its sessions over and says goodbye, the
// opposite of a crash. A killed process does neither, and its sockets are
// closed by the kernel, exactly as when a server dies. The balancer sends a
// request to the next node when a node refuses the connection, so a refresh
// right after the crash works.
//
// Flags:
//
//	-nodes 3                 how many nodes
//	-listen 127.0.0.1:8080   the balancer's address
//	-sticky                  pin each client to one node with a cookie (and mint
//	                         session tokens owned by that node)
//	-memcached host:port     optional memcached cold tier
//
// Ctrl-C stops the balancer and asks every node to leave gracefully.
package main
