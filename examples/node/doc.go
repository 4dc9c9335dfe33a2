// Command node runs one sessring demo node per process: a small web app
// with a session counter, a JSON API, /healthz, /status and /metrics. Start
// several, join them, and kill one.
//
//	go run ./examples/node -name a -http 127.0.0.1:8081 -bind 127.0.0.1:7946
//	go run ./examples/node -name b -http 127.0.0.1:8082 -bind 127.0.0.1:7947 -join 127.0.0.1:7946
//	go run ./examples/node -name c -http 127.0.0.1:8083 -bind 127.0.0.1:7948 -join 127.0.0.1:7946
//
// The cluster key (-key) may come from the environment instead, as hex in
// SESSRING_KEY, where other users of the machine cannot read it.
//
// SIGTERM or Ctrl-C shuts the node down gracefully: it hands its sessions
// to the others and leaves. SIGKILL is a crash: the others notice within
// about three seconds and the sessions' replicas take over.
//
// The API (see examples/README.md):
//
//	POST /api/incr     {"session","count","served_by","owner","replica"}, with the session cookie
//	GET  /api/session  the same without incrementing; 404 without a live session
//	GET  /api/cluster  {"self","members":[{"name","owned","replicas"}]}
//	GET  /healthz      200 once joined, 503 before and while shutting down
//	GET  /readyz       200 once joined and its share of partitions pulled; 503 with the reason otherwise
//	GET  /livez        200 while the process is alive
package main
