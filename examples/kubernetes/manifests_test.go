package kubernetes

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
)

// object is the part of a Kubernetes object the checks read. (Without the
// Kubernetes API types, which this module does not depend on, unknown
// fields cannot be rejected; the checks below name every field the
// deployment relies on.)
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec spec `yaml:"spec"`
}

type spec struct {
	// Service
	ClusterIP                string        `yaml:"clusterIP"`
	PublishNotReadyAddresses bool          `yaml:"publishNotReadyAddresses"`
	Selector                 yaml.Node     `yaml:"selector"` // a map (Service) or a LabelSelector
	Ports                    []servicePort `yaml:"ports"`
	MaxUnavailable           *int          `yaml:"maxUnavailable"` // PodDisruptionBudget
	ServiceName              string        `yaml:"serviceName"`    // StatefulSet
	Replicas                 int           `yaml:"replicas"`
	PodManagementPolicy      string        `yaml:"podManagementPolicy"`
	Template                 podTemplate   `yaml:"template"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
	Protocol   string `yaml:"protocol"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
		Containers                    []container `yaml:"containers"`
	} `yaml:"spec"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		ValueFrom struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// load decodes every document of every manifest in this directory.
func load(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var objs []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name: %+v", f, o)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %q in the manifests", kind, name)
	return object{}
}

// matchLabels returns a Service selector or a LabelSelector's matchLabels.
func matchLabels(t *testing.T, n yaml.Node) map[string]string {
	t.Helper()
	var sel struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	if n.Decode(&sel) == nil && sel.MatchLabels != nil {
		return sel.MatchLabels
	}
	var m map[string]string
	if err := n.Decode(&m); err != nil {
		t.Fatalf("selector: %v", err)
	}
	return m
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestManifests(t *testing.T) {
	objs := load(t)
	sts := find(t, objs, "StatefulSet", "sessring")
	pod := sts.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	headless := find(t, objs, "Service", sts.Spec.ServiceName)
	if headless.Spec.ClusterIP != "None" || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want a headless Service listing pods before they are ready",
			headless.Metadata.Name, headless.Spec.ClusterIP, headless.Spec.PublishNotReadyAddresses)
	}
	http := find(t, objs, "Service", "sessring-http")
	pdb := find(t, objs, "PodDisruptionBudget", "sessring")
	for _, o := range []object{headless, http, pdb} {
		if !selects(matchLabels(t, o.Spec.Selector), pod.Metadata.Labels) {
			t.Errorf("%s %s does not select the pods (labels %v)", o.Kind, o.Metadata.Name, pod.Metadata.Labels)
		}
	}
	if !selects(matchLabels(t, sts.Spec.Selector), pod.Metadata.Labels) {
		t.Errorf("the StatefulSet's selector does not match its pod template")
	}
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable = %v, want 1", pdb.Spec.MaxUnavailable)
	}
	if sts.Spec.Replicas < 3 || sts.Spec.PodManagementPolicy != "OrderedReady" {
		t.Errorf("StatefulSet: %d replicas, podManagementPolicy %q; want at least 3, OrderedReady (the first pod starts the cluster, the others join it)",
			sts.Spec.Replicas, sts.Spec.PodManagementPolicy)
	}

	o := checkArgs(t, c, headless.Metadata.Name)
	checkEnv(t, c)
	checkProbes(t, c, o)

	// SIGTERM comes after preStop; the node then needs up to ShutdownBound
	// to hand its sessions over. SIGKILL must not cut that short.
	var preStop time.Duration
	if ps := c.Lifecycle.PreStop; ps == nil || ps.Sleep == nil || ps.Sleep.Seconds < 1 {
		t.Errorf("no preStop sleep: the pod would get SIGTERM while still an endpoint")
	} else {
		preStop = time.Duration(ps.Sleep.Seconds) * time.Second
	}
	grace := time.Duration(pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + demo.ShutdownBound(); grace <= need {
		t.Errorf("terminationGracePeriodSeconds %v, want more than preStop %v + the node's shutdown bound %v", grace, preStop, demo.ShutdownBound())
	}
}

// checkArgs parses the container's arguments with examples/node's own
// flags (the environment references filled in as Kubernetes would) and
// checks what the deployment depends on.
func checkArgs(t *testing.T, c container, seedService string) demo.Options {
	t.Helper()
	r := strings.NewReplacer("$(POD_NAME)", "sessring-0", "$(POD_IP)", "10.1.2.3")
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = r.Replace(a)
	}
	var o demo.Options
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("examples/node rejects the manifest's args %q: %v", c.Args, err)
	}
	if fs.NArg() > 0 {
		t.Errorf("stray arguments %q", fs.Args())
	}
	o.Key = make([]byte, 32) // from the Secret, see checkEnv
	if err := o.Validate(); err != nil {
		t.Errorf("args %q: %v", c.Args, err)
	}
	if o.Name != "sessring-0" || o.Advertise != "10.1.2.3" {
		t.Errorf("-name %q, -advertise %q: want $(POD_NAME) and $(POD_IP)", o.Name, o.Advertise)
	}
	if !strings.HasPrefix(o.BindAddr, "0.0.0.0:") || !strings.HasPrefix(o.HTTPAddr, "0.0.0.0:") {
		t.Errorf("-bind %q, -http %q: want the wildcard address, reachable from other pods", o.BindAddr, o.HTTPAddr)
	}
	if want := seedService + ":" + strings.TrimPrefix(o.BindAddr, "0.0.0.0:"); !slices.Equal(o.Join, []string{want}) {
		t.Errorf("-join %q, want the headless Service's name %q", o.Join, want)
	}
	return o
}

func checkEnv(t *testing.T, c container) {
	t.Helper()
	want := map[string]string{"POD_NAME": "metadata.name", "POD_IP": "status.podIP"}
	key := false
	for _, e := range c.Env {
		if f := e.ValueFrom.FieldRef; f != nil && want[e.Name] == f.FieldPath {
			delete(want, e.Name)
		}
		if e.Name == "SESSRING_KEY" && e.ValueFrom.SecretKeyRef != nil {
			key = true
		}
	}
	if len(want) > 0 {
		t.Errorf("env lacks %v from the downward API", want)
	}
	if !key {
		t.Errorf("SESSRING_KEY does not come from a Secret")
	}
}

func checkProbes(t *testing.T, c container, o demo.Options) {
	t.Helper()
	port := ""
	for _, p := range c.Ports {
		if p.Name == "http" {
			port = p.Name
			if !strings.HasSuffix(o.HTTPAddr, ":"+itoa(p.ContainerPort)) {
				t.Errorf("containerPort http %d is not the node's -http %s", p.ContainerPort, o.HTTPAddr)
			}
		}
	}
	for _, pr := range []struct {
		name string
		p    *probe
		path string
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/livez"}} {
		if pr.p == nil || pr.p.HTTPGet == nil || pr.p.HTTPGet.Path != pr.path || pr.p.HTTPGet.Port != port || port == "" {
			t.Errorf("%s: want httpGet %s on the http port", pr.name, pr.path)
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// TestDockerfileMatchesModule: the image builds examples/node with the Go
// release go.mod names.
func TestDockerfileMatchesModule(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var goLine string
	for _, l := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			goLine = v
		}
	}
	parts := strings.Split(goLine, ".")
	if len(parts) < 2 || !strings.Contains(string(df), "FROM golang:"+parts[0]+"."+parts[1]+" ") {
		t.Errorf("Dockerfile does not build with golang:%s (go.mod: go %s)", strings.Join(parts[:min(2, len(parts))], "."), goLine)
	}
	if _, err := os.Stat("../node/main.go"); err != nil || !strings.Contains(string(df), "./examples/node") {
		t.Errorf("Dockerfile does not build ./examples/node (%v)", err)
	}
}
