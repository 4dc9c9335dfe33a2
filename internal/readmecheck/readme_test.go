package readmecheck

import (
	"bytes"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// embedding returns the first Go code block after the README's
// "## Embedding it" heading.
func embedding(t *testing.T, readme string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n## Embedding it\n")
	if !ok {
		t.Fatal(`README.md has no "## Embedding it" section`)
	}
	_, rest, ok = strings.Cut(rest, "```go\n")
	if !ok {
		t.Fatal("no ```go block in the README's embedding section")
	}
	code, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatal("the README's embedding example has no closing ```")
	}
	return code + "\n"
}

// TestREADMEEmbeddingBuilds builds the README's embedding example as
// written, as a module of its own that requires this checkout, and checks
// it is the complete graceful program the README promises.
func TestREADMEEmbeddingBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	code := embedding(t, string(readme))
	for _, want := range []string{"package main\n", "signal.NotifyContext(", "syscall.SIGTERM", ".Shutdown(", "node.Close()", "node.Ready()"} {
		if !strings.Contains(code, want) {
			t.Errorf("the README's embedding example lacks %q", want)
		}
	}
	if formatted, err := format.Source([]byte(code)); err != nil {
		t.Fatalf("the README's embedding example does not parse: %v\n%s", err, code)
	} else if !bytes.Equal(formatted, []byte(code)) {
		t.Errorf("the README's embedding example is not gofmt-formatted; formatted:\n%s", formatted)
	}

	dir := t.TempDir()
	gomod := "module example.com/app\n\ngo 1.26\n\nrequire github.com/e5b1d45c/sessring v0.0.0\n\nreplace github.com/e5b1d45c/sessring => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(code)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// -mod=mod lets go fill in the indirect requirements from the module
	// cache; GOPROXY=off keeps the build offline.
	cmd := exec.Command(goTool(), "build", "-mod=mod", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the README's embedding example: %v\n%s\n--- main.go:\n%s", err, out, code)
	}
}

// goTool is the go command of the toolchain running the test.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
