package golden

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1", "x.hex")
	want := bytes.Repeat([]byte{0xa7, 0x01, 0x00}, 20)
	Check(t, path, want, true)
	if got := Read(t, path); !bytes.Equal(got, want) {
		t.Errorf("Read after Check(update) = %x, want %x", got, want)
	}
	Check(t, path, want, false)
	if err := os.WriteFile(path, []byte("# comment\nA7 01 # trailing\n\n00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Read(t, path); !bytes.Equal(got, []byte{0xa7, 1, 0}) {
		t.Errorf("Read(commented file) = %x, want a70100", got)
	}
}
