// Package kubernetes holds manifests that run examples/node on Kubernetes
// (see README.md) and, in its tests, the checks that keep them in step with
// the code: every manifest parses, the node's flags exist, the probes hit
// the node's endpoints, and the grace period covers a hand-over. There is
// no Go code to import.
package kubernetes
