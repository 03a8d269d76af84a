// Package loadtest is the machinery behind `authrim bench`: it runs a node
// as a child process (the same binary, `serve`), seeds users and clients
// through the admin API and sessions straight into its bbolt file, drives
// each endpoint with an HTTP load generator of fixed concurrency
// (keep-alive, a distinct request per call, warm-up, then a fixed window),
// and reads what the server spent: CPU time from /proc/PID/stat, peak
// memory from /proc/PID/status and allocations from the node's Prometheus
// Go collector, each before and after the window.
//
// It must not measure the server from inside the server process: CPU per
// request is the child's CPU time divided by the requests it answered,
// never runtime/metrics. The package needs Linux (/proc).
package loadtest
