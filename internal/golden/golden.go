package golden

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Check compares got with the encoding stored in the golden file at path,
// or with update writes got there. A missing file fails the test unless
// update is set.
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(format(got)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := Read(t, path)
	if !bytes.Equal(got, want) {
		t.Errorf("encoding differs from golden %s:\ngot  %x\nwant %x\n(a version-1 format must not change; add a new version instead)", path, got, want)
	}
}

// Read returns the bytes stored in the golden file at path.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (generate it with -update)", err)
	}
	var clean strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		if line, _, _ = strings.Cut(line, "#"); strings.TrimSpace(line) != "" {
			clean.WriteString(strings.Join(strings.Fields(line), ""))
		}
	}
	out, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("golden file %s: %v", path, err)
	}
	return out
}

// format writes b as hex, 32 bytes a line.
func format(b []byte) string {
	var s strings.Builder
	s.WriteString("# hex; written by go test -update, read by go test\n")
	for len(b) > 0 {
		n := min(32, len(b))
		s.WriteString(hex.EncodeToString(b[:n]))
		s.WriteByte('\n')
		b = b[n:]
	}
	return s.String()
}
